"""The JSON API v1 (API.md): parse, call a service, answer."""

import functools
import logging

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from pa_controller import clock
from pa_controller.domain import ClusterStatus
from pa_controller.errors import NotFound, ServiceError, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, ServiceBeat
from pa_controller.services import access, broadcasts, fleet, media, people, reports, silence
from pa_controller.web import shapes
from pa_controller.web.openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
HEALTHY_BEAT_S = 10


def error(status: int, code: str, message: str, fields: dict | None = None):
    return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError):
    return error(exc.status, exc.code, exc.message, exc.fields)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error(exc.code or 400, exc.name.lower().replace(" ", "_"), exc.description or exc.name)


def authenticated(view):
    """Require `Authorization: Bearer <token>` and put the user in g.user."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = people.user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            response, status = error(401, "unauthorized", "send a valid API token as 'Authorization: Bearer <token>'")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response, status
        g.user = user
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object (Content-Type: application/json)")
    return body


def int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise ValidationFailed(f"query parameter {name} must be a whole number", fields={name: "invalid"})
    return int(value)


@bp.get("/health")
def health():
    """Report db, mqtt and scheduler health; needs no token."""
    answer = {"status": "ok", "db": "ok", "mqtt": "unknown", "scheduler": "unknown"}
    try:
        db.session.execute(text("SELECT 1"))
        beat = db.session.get(ServiceBeat, "worker")
    except Exception as exc:  # the database itself is what is being checked
        log.warning("health: database unreachable: %s", exc)
        return jsonify({**answer, "status": "degraded", "db": "unreachable"}), 503
    if beat is None:
        answer["scheduler"] = answer["mqtt"] = "worker never started (flask pa scheduler)"
    else:
        age = (clock.now() - beat.beat_at).total_seconds()
        answer["scheduler"] = "ok" if age <= HEALTHY_BEAT_S else f"no beat for {age:.0f} s"
        answer["mqtt"] = "ok" if beat.mqtt_connected and age <= HEALTHY_BEAT_S else (beat.detail or "disconnected")
    if any(answer[k] != "ok" for k in ("db", "mqtt", "scheduler")):
        answer["status"] = "degraded"
    return jsonify(answer)


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/wards")
@authenticated
def wards():
    return jsonify([shapes.ward(w) for w in fleet.wards_for(access.ward_scope(g.user))])


@bp.get("/clusters")
@authenticated
def clusters():
    ward, status = request.args.get("ward"), request.args.get("status")
    if status is not None and status not in ClusterStatus._value2member_map_:
        raise ValidationFailed("status must be online, stale, offline or unknown", fields={"status": "invalid"})
    scope = access.ward_scope(g.user)
    wards = [ward] if ward else None
    if scope is not None:
        wards = sorted(scope & set(wards)) if wards else sorted(scope)
    now, beat = clock.now(), current_app.config["HEARTBEAT_S"]
    answer = []
    for cluster in fleet.active_clusters(wards):
        item = shapes.cluster(cluster, fleet.effective_status(cluster.state, now, beat))
        if status is None or item["status"] == status:
            answer.append(item)
    return jsonify(answer)


@bp.get("/clusters/<cid>")
@authenticated
def cluster(cid: str):
    found = db.session.get(Cluster, cid)
    if found is None:
        raise NotFound(f"cluster {cid} does not exist")
    access.require_wards(g.user, {found.ward_id})
    status = fleet.effective_status(found.state, clock.now(), current_app.config["HEARTBEAT_S"])
    return jsonify(shapes.cluster_detail(found, status))


@bp.post("/audio")
@authenticated
def upload_audio():
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("send the audio as multipart form field 'file'", fields={"file": "missing"})
    clip = media.ingest(g.user, upload.stream, upload.filename, request.form.get("title", ""))
    return jsonify(shapes.audio(clip)), 201


@bp.get("/audio")
@authenticated
def list_audio():
    return jsonify([shapes.audio(a) for a in media.library()])


@bp.post("/broadcasts")
@authenticated
def create_broadcast():
    broadcast, upcoming = broadcasts.create_broadcast(g.user, json_body())
    return jsonify({**shapes.broadcast(broadcast), "next_runs": [shapes.utc(t) for t in upcoming]}), 201


@bp.get("/broadcasts/<int:broadcast_id>")
@authenticated
def get_broadcast(broadcast_id: int):
    return jsonify(shapes.broadcast(broadcasts.get_broadcast(g.user, broadcast_id)))


@bp.delete("/broadcasts/<int:broadcast_id>")
@authenticated
def cancel_broadcast(broadcast_id: int):
    return jsonify(shapes.broadcast(broadcasts.cancel_broadcast(g.user, broadcast_id)))


@bp.get("/runs")
@authenticated
def list_runs():
    return jsonify([shapes.run(r) for r in reports.list_runs(g.user, int_arg("broadcast_id"))])


@bp.get("/runs/<int:run_id>")
@authenticated
def get_run(run_id: int):
    return jsonify(shapes.run_report(reports.run_report(g.user, run_id)))


@bp.post("/stop-all")
@authenticated
def stop_all():
    order = silence.stop_all(g.user, json_body().get("reason"))
    return jsonify({"id": order.id, "clusters": order.clusters, "created_at": shapes.utc(order.created_at)}), 202
