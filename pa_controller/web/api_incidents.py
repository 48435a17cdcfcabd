"""API v1 for technicians: incidents and maintenance windows."""

from flask import g, jsonify

from pa_controller.domain import Scope
from pa_controller.services import alerts
from pa_controller.web.api import allowed, authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.formatting import utc
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_incidents", __name__, url_prefix="/api/v1", description="Incidents and maintenance windows")


@bp.get("/incidents")
@authenticated(Scope.READ)
@bp.arguments(q.IncidentsQuery, location="query", as_kwargs=True)
@bp.response(200, r.Incident(many=True))
def incidents(open_only=True):
    """Incidents, newest first: the open ones, or with `?open=false` the closed ones too."""
    return jsonify([alerts.describe(i) for i in alerts.list_incidents(g.user, open_only=open_only)])


@bp.post("/incidents/<int:id>/ack")
@authenticated(Scope.FLEET)
@bp.response(200, r.Incident)
def acknowledge(id: int):
    """Acknowledge an incident: someone is on it."""
    return jsonify(alerts.describe(alerts.acknowledge(g.user, id)))


@bp.post("/incidents/<int:id>/close")
@authenticated(Scope.FLEET)
@bp.response(200, r.Incident)
def close(id: int):
    """Close an incident by hand (it also closes itself on recovery)."""
    return jsonify(alerts.describe(alerts.close(g.user, id)))


def _window(w) -> dict:
    return {"id": w.id, "ward": w.ward_id, "cluster": w.cluster_id, "starts_at": utc(w.starts_at),
            "ends_at": utc(w.ends_at), "reason": w.reason}


@bp.get("/maintenance")
@authenticated(Scope.READ)
@bp.response(200, r.MaintenanceWindow(many=True))
def maintenance():
    """Maintenance windows."""
    return jsonify([_window(w) for w in alerts.list_maintenance(g.user)])


@bp.post("/maintenance")
@authenticated(Scope.FLEET)
@allowed(*alerts.WATCHERS)
@bp.arguments(q.MaintenanceRequest)
@bp.response(201, r.MaintenanceWindow)
def add_maintenance(body: dict):
    """Add a maintenance window: outages of its ward, cluster or (neither given) the district open no incident."""
    return jsonify(_window(alerts.add_maintenance(g.user, body))), 201
