"""The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json."""

from pa_controller.services.fleet_admin import LAT_RANGE, LON_RANGE, SPEAKERS


def _op(summary: str, *, body: str | None = None, multipart: bool = False, params=(), ok: str = "200",
        auth: bool = True) -> dict:
    op = {"summary": summary, "responses": {ok: {"description": "success"},
                                            "4XX": {"$ref": "#/components/responses/Error"}}}
    if not auth:
        op["security"] = []
    if params:
        op["parameters"] = [{"name": n, "in": where, "required": where == "path", "schema": {"type": t}}
                            for n, where, t in params]
    if body:
        media = "multipart/form-data" if multipart else "application/json"
        op["requestBody"] = {"required": True, "content": {media: {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    return op


def _csv_import_op() -> dict:
    op = _op("Import the fleet from CSV (administrators), all or nothing; 422 lists the bad rows in "
             "error.errors", body="FleetUpload", multipart=True)
    op["requestBody"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return op


def _fleet_schemas() -> dict:
    cluster = {"name": {"type": "string", "maxLength": 120}, "ward": {"type": "string"},
               "lat": {"type": "number", "minimum": LAT_RANGE[0], "maximum": LAT_RANGE[1]},
               "lon": {"type": "number", "minimum": LON_RANGE[0], "maximum": LON_RANGE[1]},
               "speakers": {"type": "integer", "minimum": SPEAKERS[0], "maximum": SPEAKERS[1]}}
    return {
        "ClusterNew": {"type": "object", "required": ["id", *cluster], "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"}, **cluster}},
        "ClusterEdit": {"type": "object", "properties": {**cluster, "retired": {"const": False}}},
        "FleetUpload": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "CSV UTF-8: id,name,ward_id,ward_name,lat,lon,speakers"}}},
        "WardMerge": {"type": "object", "required": ["from", "into"], "properties": {
            "from": {"type": "string"}, "into": {"type": "string"}}},
        "CommandRequest": {"type": "object", "required": ["type"], "properties": {
            "type": {"enum": ["set_volume", "test_tone", "reboot"]},
            "clusters": {"type": "array", "items": {"type": "string"}, "maxItems": 2000},
            "ward": {"type": "string", "description": "instead of clusters: every cluster in service there"},
            "volume": {"type": "integer", "minimum": 0, "maximum": 100, "description": "set_volume"},
            "duration_ms": {"type": "integer", "minimum": 500, "maximum": 30000, "default": 3000,
                            "description": "test_tone"}}},
    }


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "LoaNet API", "version": "1",
                 "description": "Schedule announcements on a loudspeaker network and see who played them. "
                                "Times in requests: RFC 3339, without an offset meaning Asia/Ho_Chi_Minh; "
                                "in responses: RFC 3339 UTC."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/health": {"get": _op("Health of the database, MQTT link and scheduler", auth=False)},
            "/wards": {"get": _op("Wards with their cluster and speaker counts")},
            "/clusters": {"get": _op("Clusters, filtered by ward and status",
                                     params=[("ward", "query", "string"), ("status", "query", "string")]),
                          "post": _op("Add a cluster (administrators); 409 if the id exists", body="ClusterNew",
                                      ok="201")},
            "/clusters/{id}": {"get": _op("One cluster with its latest heartbeat", params=[("id", "path", "string")]),
                               "patch": _op("Edit a cluster (administrators): a new ward moves it; "
                                            "retired: false brings a retired one back", body="ClusterEdit",
                                            params=[("id", "path", "string")]),
                               "delete": _op("Retire a cluster (administrators): out of service, history kept; "
                                             "409 if already retired", params=[("id", "path", "string")])},
            "/clusters.csv": {"get": _op("The clusters in service as CSV in the format of `flask pa fleet import` "
                                         "(administrators)")},
            "/clusters/import": {"post": _csv_import_op()},
            "/wards/merge": {"post": _op("Move every cluster of one ward into another (administrators); the "
                                         "emptied ward stays, with its history; answers how many moved, the "
                                         "officers and live broadcasts still on the old ward", body="WardMerge")},
            "/commands": {"post": _op("Send set_volume, test_tone or reboot to clusters or a ward (administrators, "
                                      "technicians); one tracked command per cluster", body="CommandRequest",
                                      ok="202"),
                          "get": _op("Remote commands, newest first; officers see their ward's",
                                     params=[("cluster", "query", "string"), ("limit", "query", "integer")])},
            "/commands/{id}": {"get": _op("One remote command: its state, when, and its detail (a test tone's "
                                          "amp_ok)", params=[("id", "path", "integer")])},
            "/audio": {"post": _op("Upload audio: normalised to -16 LUFS, MP3 64 kbit/s mono", body="AudioUpload",
                                   multipart=True, ok="201"),
                       "get": _op("The audio library")},
            "/broadcasts": {"post": _op("Schedule a broadcast; 409 lists conflicts, 422 code guardrail lists the "
                                        "ward rules it breaks; ?dry_run=true answers {next_runs, conflicts, "
                                        "violations} without saving", body="BroadcastRequest", ok="201",
                                        params=[("dry_run", "query", "boolean")])},
            "/broadcasts/{id}": {"get": _op("One broadcast", params=[("id", "path", "integer")]),
                                 "patch": _op("Change a broadcast from now on: runs not yet sent are planned "
                                              "afresh, past runs keep their records; fields as for POST",
                                              body="BroadcastRequest",
                                              params=[("id", "path", "integer"), ("dry_run", "query", "boolean")]),
                                 "delete": _op("Cancel future runs and any run now playing",
                                               params=[("id", "path", "integer")])},
            "/runs": {"get": _op("Runs, newest first", params=[("broadcast_id", "query", "integer"),
                                                                ("state", "query", "string")])},
            "/runs/{id}": {"get": _op("A run report: counts by state and each cluster's state",
                                      params=[("id", "path", "integer")]),
                           "delete": _op("Cancel one run, before or while it plays",
                                         params=[("id", "path", "integer")])},
            "/wards/{id}/rules": {"get": _op("A ward's broadcasting rules", params=[("id", "path", "string")]),
                                  "put": _op("Replace a ward's rules (administrators)", body="WardRules",
                                             params=[("id", "path", "string")])},
            "/stop-all": {"post": _op("Silence every cluster now (administrators)", body="StopRequest", ok="202")},
            "/openapi.json": {"get": _op("This document", auth=False)},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "A request that cannot be served", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}}}},
                "StopRequest": {"type": "object", "required": ["reason"], "properties": {
                    "reason": {"type": "string", "maxLength": 500}}},
                **_fleet_schemas(),
                "AudioUpload": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}},
                "BroadcastRequest": {"type": "object", "required": ["title", "targets", "start_at"],
                                     "properties": {
                    "title": {"type": "string", "maxLength": 200},
                    "audio_id": {"type": "integer"},
                    "priority": {"enum": ["normal", "priority", "emergency"], "default": "normal"},
                    "targets": {"type": "object", "properties": {
                        "all": {"const": True}, "wards": {"type": "array", "items": {"type": "string"}},
                        "clusters": {"type": "array", "items": {"type": "string"}}}},
                    "start_at": {"type": "string", "description": "RFC 3339, or \"now\""},
                    "rrule": {"type": "string", "description": "RFC 5545 RRULE, evaluated in Asia/Ho_Chi_Minh"},
                    "until": {"type": "string", "format": "date-time"},
                    "exdates": {"type": "array", "items": {"type": "string", "format": "date"},
                                "description": "local dates skipped (holidays)"},
                    "kind": {"enum": ["play", "relay"], "default": "play"},
                    "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 20,
                              "description": "clips played back to back, instead of audio_id"},
                    "repeat": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "gap_s": {"type": "number", "minimum": 0, "maximum": 300, "default": 0},
                    "chime": {"type": "boolean", "default": False, "description": "attention chime before and after"},
                    "stream_url": {"type": "string", "description": "relay: http(s), rtsp or rtmp live stream"},
                    "duration_s": {"type": "integer", "minimum": 60, "maximum": 14400, "description": "relay window"},
                    "override_reason": {"type": "string", "description": "administrators: set ward rules aside"}}},
                "WardRules": {"type": "object", "properties": {
                    "quiet_hours": {"type": ["object", "null"], "properties": {
                        "start": {"type": "string", "example": "21:30"},
                        "end": {"type": "string", "example": "05:00"}}},
                    "max_sessions_per_day": {"type": ["integer", "null"]},
                    "max_session_minutes": {"type": ["integer", "null"]},
                    "weekdays": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1, "maximum": 7}},
                    "blackout_dates": {"type": "array", "items": {"type": "string", "format": "date"}}}},
            },
        },
    }
