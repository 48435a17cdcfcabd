"""The JSON API v1 (API.md): parse, call a service, answer."""

import functools
from copy import deepcopy
from urllib.parse import quote

from flask import Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _
from flask_smorest.utils import deepupdate

from pa_controller import clock, settings
from pa_controller.domain import Role, Scope
from pa_controller.errors import ValidationFailed
from pa_controller.services import (
    access,
    broadcast_search,
    broadcasts,
    fleet,
    guardrails,
    media,
    refusals,
    reports,
    silence,
    speech,
    tokens,
)
from pa_controller.services import health as services_health
from pa_controller.web import shapes
from pa_controller.web.apidoc import Blueprint, document
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r
from pa_controller.web.schemas.common import ErrorSchema

READING_HEADER = "X-Speech-Reading"
bp = Blueprint("api", __name__, url_prefix="/api/v1", description="Fleet, audio, broadcasts, runs, ward rules")


def authenticated(scope: Scope):
    """Require `Authorization: Bearer <token>` with `scope`, and put the user in g.user (the token in g.token).

    Every endpoint but the public ones names its scope, which the OpenAPI document shows as the bearer scheme's.
    """
    if not isinstance(scope, Scope):
        raise TypeError("say which scope an endpoint needs: @authenticated(Scope.READ), not @authenticated")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
            g.token = tokens.authenticate(secret.strip() if scheme.lower() == "bearer" else "", scope)
            g.user = g.token.user
            return view(*args, **kwargs)

        wrapper.required_scope = scope
        wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # as flask-smorest's own doc() does
        wrapper._apidoc["manual_doc"] = deepupdate(deepcopy(wrapper._apidoc.get("manual_doc", {})),
                                                   {"security": [{"bearer": [scope.value]}]})
        return wrapper

    return decorator


def allowed(*roles):
    """Refuse (403) a user without one of `roles` before the body is read: who may ask comes before how."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            access.require_role(g.user, *roles)
            return view(*args, **kwargs)

        return wrapper

    return decorator


@bp.get("/health")
@bp.response(200, r.Health)
@bp.alt_response(503, schema=r.Health, description="the database cannot be reached")
@bp.doc(security=[])
def health():
    """Health of the database, MQTT link and scheduler; needs no token."""
    answer = services_health.report()
    return jsonify(answer), 503 if answer["db"] != "ok" else 200


@bp.get("/openapi.json")
@bp.response(200, {"type": "object"})
@bp.doc(security=[])
def openapi():
    """This document."""
    return jsonify(document(current_app))


@bp.get("/wards")
@authenticated(Scope.READ)
@bp.response(200, r.Ward(many=True))
def wards():
    """Wards with their cluster and speaker counts."""
    return jsonify([shapes.ward(w) for w in fleet.wards_for(access.ward_scope(g.user))])


@bp.get("/clusters")
@authenticated(Scope.READ)
@bp.arguments(q.ClustersQuery, location="query", as_kwargs=True)
@bp.response(200, r.Cluster(many=True))
def clusters(ward=None, status=None):
    """Clusters, filtered by ward and status."""
    found = fleet.clusters_for(g.user, ward, status, clock.now(), settings.current().heartbeat_s)
    return jsonify([shapes.cluster(cluster, status) for cluster, status in found])


@bp.get("/clusters/<id>")
@authenticated(Scope.READ)
@bp.response(200, r.ClusterDetail)
def cluster(id: str):
    """One cluster with its latest heartbeat, and the forged commands and reports refused for it."""
    found = fleet.get_cluster(g.user, id)
    status = fleet.effective_status(found.state, clock.now(), settings.current().heartbeat_s)
    return jsonify({**shapes.cluster_detail(found, status), "refusals": refusals.by_kind(found.id)})


@bp.post("/audio")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.response(201, r.Audio)
@bp.alt_response(507, schema=ErrorSchema, description="storage_full: the server's disk is full; nothing was kept")
@bp.alt_response(503, schema=ErrorSchema, description="storage_unwritable: the media directory refuses writes")
@bp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": q.AudioUpload}}})
def upload_audio():
    """Upload audio: normalised to -16 LUFS, MP3 64 kbit/s mono."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_("Hãy gửi tệp âm thanh trong trường 'file' (multipart)."), fields={"file": "missing"})
    clip = media.ingest(g.user, upload.stream, upload.filename, request.form.get("title", ""),
                        request.form.get("ward") or None)
    return jsonify(shapes.audio(clip)), 201


@bp.get("/audio")
@authenticated(Scope.READ)
@bp.arguments(q.AudioQuery, location="query", as_kwargs=True)
@bp.response(200, r.Audio(many=True))
def list_audio(composed=None):
    """The library the user may use (their wards' and the district's), newest first: `?composed=false` the
    recordings, `?composed=true` the composed programmes."""
    return jsonify([shapes.audio(a) for a in media.library(g.user, composed=composed)])


@bp.post("/audio/speech")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.arguments(q.SpeechRequest)
@bp.response(201, r.Audio)
@bp.alt_response(503, schema=ErrorSchema, description="voice_missing: no voice is installed (see "
                                                    "docs/operations.md); storage_unwritable: the media directory "
                                                    "refuses writes")
@bp.alt_response(507, schema=ErrorSchema, description="storage_full: the server's disk is full; nothing was kept")
def create_speech(body: dict):
    """Compose by text: read the text aloud (Vietnamese, offline) and add it to the library like an upload."""
    clip = speech.create(g.user, body["text"], body.get("title", ""), body["speed"], body.get("ward") or None)
    return jsonify(shapes.audio(clip)), 201


@bp.post("/audio/speech/preview")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.arguments(q.SpeechPreview)
@bp.response(200, {"type": "string", "format": "binary"}, content_type="audio/mpeg",
             headers={READING_HEADER: {"description": "how the voice reads the text, percent-encoded UTF-8",
                                       "schema": {"type": "string"}}})
def preview_speech(body: dict):
    """Hear the text read aloud, prepared as it would be stored and played; nothing is kept."""
    return spoken(speech.preview(g.user, body["text"], body["speed"]), speech.reading(body["text"]))


@bp.post("/audio/speech/reading")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.arguments(q.SpeechReading)
@bp.response(200, r.Reading)
def read_speech(body: dict):
    """How the voice will read the text: its numbers, dates, times and units written out in words."""
    return jsonify({"text": body["text"], "reading": speech.reading(body["text"])})


def spoken(mp3: bytes, reading: str) -> Response:
    """An MP3 to hear at once, never cached, with how its text was read in a header."""
    response = Response(mp3, mimetype="audio/mpeg", headers={READING_HEADER: quote(reading)})
    response.cache_control.no_store = True
    return response


def previewing(dry_run: str) -> bool:
    """`?dry_run=true`: check the request and answer what saving it would mean, without saving."""
    return dry_run.lower() in {"1", "true", "yes"}


@bp.post("/broadcasts")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.arguments(q.DryRunQuery, location="query", as_kwargs=True)
@bp.arguments(q.BroadcastRequest)
@bp.response(201, r.SavedBroadcast)
@bp.alt_response(200, schema=r.Review, description="?dry_run=true: what saving would mean")
def create_broadcast(body: dict, dry_run=""):
    """Schedule a broadcast; 409 lists conflicts, 422 code guardrail the ward rules it breaks."""
    if previewing(dry_run):
        return jsonify(shapes.review(broadcasts.review(g.user, body)))
    broadcast, found = broadcasts.create_broadcast(g.user, body)
    return jsonify({**shapes.broadcast(broadcast), **shapes.review(found)}), 201


@bp.get("/broadcasts")
@authenticated(Scope.READ)
@bp.arguments(q.BroadcastsQuery, location="query", as_kwargs=True)
@bp.response(200, r.BroadcastList)
def list_broadcasts(**filters):
    """Broadcasts of the user's wards, newest first, 50 a page: by ward, by the state of a run, by local days."""
    found = broadcast_search.search(g.user, broadcast_search.BroadcastQuery(**filters))
    return jsonify({"broadcasts": [shapes.broadcast(b) for b in found.broadcasts], "total": found.total,
                    "page": found.query.page, "pages": found.pages})


@bp.patch("/broadcasts/<int:id>")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.arguments(q.DryRunQuery, location="query", as_kwargs=True)
@bp.arguments(q.BroadcastEdit)
@bp.response(200, r.SavedBroadcast)
def update_broadcast(body: dict, id: int, dry_run=""):
    """Change a broadcast from now on (only the fields sent): runs not yet sent are planned afresh."""
    if previewing(dry_run):
        return jsonify(shapes.review(broadcasts.review(g.user, body, id)))
    broadcast, found = broadcasts.update_broadcast(g.user, id, body)
    return jsonify({**shapes.broadcast(broadcast), **shapes.review(found)})


@bp.get("/broadcasts/<int:id>")
@authenticated(Scope.READ)
@bp.response(200, r.Broadcast)
def get_broadcast(id: int):
    """One broadcast."""
    return jsonify(shapes.broadcast(broadcasts.get_broadcast(g.user, id)))


@bp.delete("/broadcasts/<int:id>")
@authenticated(Scope.SCHEDULE)
@bp.response(200, r.Broadcast)
def cancel_broadcast(id: int):
    """Cancel future runs and any run now playing."""
    return jsonify(shapes.broadcast(broadcasts.cancel_broadcast(g.user, id)))


@bp.get("/runs")
@authenticated(Scope.READ)
@bp.arguments(q.RunsQuery, location="query", as_kwargs=True)
@bp.response(200, r.Run(many=True))
def list_runs(broadcast_id=None, state=None):
    """Runs, newest first."""
    return jsonify([shapes.run(run) for run in reports.list_runs(g.user, broadcast_id, state=state)])


@bp.get("/runs/<int:id>")
@authenticated(Scope.READ)
@bp.response(200, r.RunReport)
def get_run(id: int):
    """A run report: counts by state and each cluster's state."""
    return jsonify(shapes.run_report(reports.run_report(g.user, id)))


@bp.delete("/runs/<int:id>")
@authenticated(Scope.SCHEDULE)
@bp.response(200, r.Run)
def cancel_run(id: int):
    """Cancel one run, before or while it plays."""
    return jsonify(shapes.run(broadcasts.cancel_run(g.user, reports.get_run(g.user, id))))


@bp.get("/wards/<id>/rules")
@authenticated(Scope.READ)
@bp.response(200, r.Rules)
def ward_rules(id: str):
    """A ward's broadcasting rules."""
    return jsonify({"ward": id, **guardrails.get_rules(g.user, id).describe()})


@bp.put("/wards/<id>/rules")
@authenticated(Scope.ADMIN)
@allowed(Role.ADMIN)
@bp.arguments(q.WardRules)
@bp.response(200, r.Rules)
def set_ward_rules(rules: dict, id: str):
    """Replace a ward's rules (administrators)."""
    return jsonify({"ward": id, **guardrails.set_rules(g.user, id, rules).describe()})


@bp.post("/stop-all")
@authenticated(Scope.ADMIN)
@allowed(Role.ADMIN)
@bp.arguments(q.StopRequest, as_kwargs=True)
@bp.response(202, r.StopOrder)
def stop_all(reason: str):
    """Silence every cluster now (administrators)."""
    order = silence.stop_all(g.user, reason)
    return jsonify({"id": order.id, "clusters": order.clusters, "created_at": shapes.utc(order.created_at)}), 202
