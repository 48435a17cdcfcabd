"""The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json."""


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
                                     params=[("ward", "query", "string"), ("status", "query", "string")])},
            "/clusters/{id}": {"get": _op("One cluster with its latest heartbeat", params=[("id", "path", "string")])},
            "/audio": {"post": _op("Upload audio: normalised to -16 LUFS, MP3 64 kbit/s mono", body="AudioUpload",
                                   multipart=True, ok="201"),
                       "get": _op("The audio library")},
            "/broadcasts": {"post": _op("Schedule a broadcast", body="BroadcastRequest", ok="201")},
            "/broadcasts/{id}": {"get": _op("One broadcast", params=[("id", "path", "integer")]),
                                 "delete": _op("Cancel future runs and any run now playing",
                                               params=[("id", "path", "integer")])},
            "/runs": {"get": _op("Runs, newest first", params=[("broadcast_id", "query", "integer")])},
            "/runs/{id}": {"get": _op("A run report: counts by state and each cluster's state",
                                      params=[("id", "path", "integer")])},
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
                "AudioUpload": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}},
                "BroadcastRequest": {"type": "object", "required": ["title", "audio_id", "targets", "start_at"],
                                     "properties": {
                    "title": {"type": "string", "maxLength": 200},
                    "audio_id": {"type": "integer"},
                    "priority": {"enum": ["normal", "priority", "emergency"], "default": "normal"},
                    "targets": {"type": "object", "properties": {
                        "all": {"const": True}, "wards": {"type": "array", "items": {"type": "string"}},
                        "clusters": {"type": "array", "items": {"type": "string"}}}},
                    "start_at": {"type": "string", "description": "RFC 3339, or \"now\""},
                    "rrule": {"type": "string", "description": "RFC 5545 RRULE, evaluated in Asia/Ho_Chi_Minh"},
                    "until": {"type": "string", "format": "date-time"}}},
            },
        },
    }
