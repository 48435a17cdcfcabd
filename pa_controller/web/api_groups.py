"""The JSON API v1 for targeting: groups of clusters, and how far a choice of targets reaches."""

from flask import g, jsonify

from pa_controller import clock, settings
from pa_controller.domain import Scope
from pa_controller.services import groups, reach
from pa_controller.web import shapes
from pa_controller.web.api import allowed, authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_groups", __name__, url_prefix="/api/v1", description="Groups of clusters, and target counts")


@bp.get("/groups")
@authenticated(Scope.READ)
@bp.arguments(q.GroupsQuery, location="query", as_kwargs=True)
@bp.response(200, r.Group(many=True))
def list_groups(ward=None):
    """Groups of clusters of the user's wards, by ward and name."""
    return jsonify([shapes.group(group) for group in groups.list_groups(g.user, ward)])


@bp.post("/groups")
@authenticated(Scope.SCHEDULE)
@allowed(*groups.MANAGERS)
@bp.arguments(q.GroupNew)
@bp.response(201, r.Group)
def create_group(body: dict):
    """Make a group of one ward's clusters (that ward's officers, administrators); 409 if the name is taken."""
    return jsonify(shapes.group(groups.create_group(g.user, body))), 201


@bp.get("/groups/<int:id>")
@authenticated(Scope.READ)
@bp.response(200, r.Group)
def get_group(id: int):
    """One group and its clusters."""
    return jsonify(shapes.group(groups.get_group(g.user, id)))


@bp.patch("/groups/<int:id>")
@authenticated(Scope.SCHEDULE)
@allowed(*groups.MANAGERS)
@bp.arguments(q.GroupEdit)
@bp.response(200, r.Group)
def update_group(body: dict, id: int):
    """Rename a group, or replace its clusters (all of its ward)."""
    return jsonify(shapes.group(groups.update_group(g.user, id, body)))


@bp.delete("/groups/<int:id>")
@authenticated(Scope.SCHEDULE)
@allowed(*groups.MANAGERS)
@bp.response(204)
def delete_group(id: int):
    """Delete a group; 409 names the broadcasts with runs ahead that still target it."""
    groups.delete_group(g.user, id)
    return "", 204


@bp.get("/targets/count")
@authenticated(Scope.READ)
@bp.arguments(q.TargetsQuery, location="query")
@bp.response(200, r.Reach)
def count_targets(targets: dict):
    """How many clusters and speakers in service, in how many wards, targets reach today; how many are offline."""
    found = reach.of_targets(g.user, targets, clock.now(), settings.current().heartbeat_s)
    return jsonify(found.describe())
