"""API v1 for technicians: incidents and maintenance windows."""

from flask import Blueprint, g, jsonify, request

from pa_controller.services import alerts
from pa_controller.web.api import authenticated, json_body
from pa_controller.web.formatting import utc

bp = Blueprint("api_incidents", __name__, url_prefix="/api/v1")


@bp.get("/incidents")
@authenticated
def incidents():
    open_only = request.args.get("open", "true").lower() not in {"0", "false", "no"}
    return jsonify([alerts.describe(i) for i in alerts.list_incidents(g.user, open_only=open_only)])


@bp.post("/incidents/<int:incident_id>/ack")
@authenticated
def acknowledge(incident_id: int):
    return jsonify(alerts.describe(alerts.acknowledge(g.user, incident_id)))


@bp.post("/incidents/<int:incident_id>/close")
@authenticated
def close(incident_id: int):
    return jsonify(alerts.describe(alerts.close(g.user, incident_id)))


def _window(w) -> dict:
    return {"id": w.id, "ward": w.ward_id, "cluster": w.cluster_id, "starts_at": utc(w.starts_at),
            "ends_at": utc(w.ends_at), "reason": w.reason}


@bp.get("/maintenance")
@authenticated
def maintenance():
    return jsonify([_window(w) for w in alerts.list_maintenance(g.user)])


@bp.post("/maintenance")
@authenticated
def add_maintenance():
    return jsonify(_window(alerts.add_maintenance(g.user, json_body()))), 201
