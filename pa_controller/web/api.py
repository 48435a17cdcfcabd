"""The JSON API v1 (API.md): parse, call a service, answer."""

import functools

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _

from pa_controller import clock
from pa_controller.errors import ValidationFailed
from pa_controller.services import access, broadcasts, fleet, guardrails, media, people, reports, silence
from pa_controller.services import health as services_health
from pa_controller.web import shapes
from pa_controller.web.errors import json_error
from pa_controller.web.openapi import document
from pa_protocol import RunState

bp = Blueprint("api", __name__, url_prefix="/api/v1")
def authenticated(view):
    """Require `Authorization: Bearer <token>` and put the user in g.user."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        user = people.user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            response, status = json_error(401, "unauthorized",
                                          _("Hãy gửi một mã API hợp lệ: 'Authorization: Bearer <mã>'."))
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
        raise ValidationFailed(_("Nội dung yêu cầu phải là một đối tượng JSON (Content-Type: application/json)."))
    return body


def int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise ValidationFailed(_("Tham số %(name)s phải là một số nguyên.", name=name), fields={name: "invalid"})
    return int(value)


@bp.get("/health")
def health():
    """Report db, mqtt and scheduler health; needs no token."""
    answer = services_health.report()
    return jsonify(answer), 503 if answer["db"] != "ok" else 200


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
    found = fleet.clusters_for(g.user, request.args.get("ward"), request.args.get("status"), clock.now(),
                               current_app.config["HEARTBEAT_S"])
    return jsonify([shapes.cluster(cluster, status) for cluster, status in found])


@bp.get("/clusters/<cid>")
@authenticated
def cluster(cid: str):
    found = fleet.get_cluster(g.user, cid)
    status = fleet.effective_status(found.state, clock.now(), current_app.config["HEARTBEAT_S"])
    return jsonify(shapes.cluster_detail(found, status))


@bp.post("/audio")
@authenticated
def upload_audio():
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_("Hãy gửi tệp âm thanh trong trường 'file' (multipart)."), fields={"file": "missing"})
    clip = media.ingest(g.user, upload.stream, upload.filename, request.form.get("title", ""))
    return jsonify(shapes.audio(clip)), 201


@bp.get("/audio")
@authenticated
def list_audio():
    """The library, newest first: `?composed=false` the recordings, `?composed=true` the composed programmes."""
    flag = request.args.get("composed")
    if flag not in (None, "true", "false"):
        raise ValidationFailed(_("composed phải là true hoặc false."), fields={"composed": "invalid"})
    return jsonify([shapes.audio(a) for a in media.library(composed=None if flag is None else flag == "true")])


def dry_run() -> bool:
    """`?dry_run=true`: check the request and answer what saving it would mean, without saving."""
    return request.args.get("dry_run", "").lower() in {"1", "true", "yes"}


@bp.post("/broadcasts")
@authenticated
def create_broadcast():
    if dry_run():
        return jsonify(shapes.review(broadcasts.review(g.user, json_body())))
    broadcast, found = broadcasts.create_broadcast(g.user, json_body())
    return jsonify({**shapes.broadcast(broadcast), **shapes.review(found)}), 201


@bp.patch("/broadcasts/<int:broadcast_id>")
@authenticated
def update_broadcast(broadcast_id: int):
    if dry_run():
        return jsonify(shapes.review(broadcasts.review(g.user, json_body(), broadcast_id)))
    broadcast, found = broadcasts.update_broadcast(g.user, broadcast_id, json_body())
    return jsonify({**shapes.broadcast(broadcast), **shapes.review(found)})


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
    state = request.args.get("state")
    if state is not None and state not in {s.value for s in RunState}:
        raise ValidationFailed(_("state phải là một trong %(states)s.", states=", ".join(RunState)),
                               fields={"state": "invalid"})
    runs = reports.list_runs(g.user, int_arg("broadcast_id"), state=RunState(state) if state else None)
    return jsonify([shapes.run(r) for r in runs])


@bp.get("/runs/<int:run_id>")
@authenticated
def get_run(run_id: int):
    return jsonify(shapes.run_report(reports.run_report(g.user, run_id)))


@bp.delete("/runs/<int:run_id>")
@authenticated
def cancel_run(run_id: int):
    return jsonify(shapes.run(broadcasts.cancel_run(g.user, reports.get_run(g.user, run_id))))


@bp.get("/wards/<ward_id>/rules")
@authenticated
def ward_rules(ward_id: str):
    return jsonify({"ward": ward_id, **guardrails.get_rules(g.user, ward_id).describe()})


@bp.put("/wards/<ward_id>/rules")
@authenticated
def set_ward_rules(ward_id: str):
    return jsonify({"ward": ward_id, **guardrails.set_rules(g.user, ward_id, json_body()).describe()})


@bp.post("/stop-all")
@authenticated
def stop_all():
    order = silence.stop_all(g.user, json_body().get("reason"))
    return jsonify({"id": order.id, "clusters": order.clusters, "created_at": shapes.utc(order.created_at)}), 202
