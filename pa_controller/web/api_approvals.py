"""API v1 for approval: submit, approve, send back and review broadcasts, and what waits for the caller."""

from flask import g, jsonify

from pa_controller.domain import Scope
from pa_controller.services import access, approvals
from pa_controller.web import shapes
from pa_controller.web.api import allowed, authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_approvals", __name__, url_prefix="/api/v1", description="Approving officers' broadcasts")


@bp.post("/broadcasts/<int:id>/submit")
@authenticated(Scope.SCHEDULE)
@allowed(*access.SCHEDULERS)
@bp.response(200, r.Broadcast)
def submit(id: int):
    """Send a draft or a returned broadcast for approval (approved at once where its wards need none)."""
    return jsonify(shapes.broadcast(approvals.submit(g.user, id)))


@bp.post("/broadcasts/<int:id>/approve")
@authenticated(Scope.SCHEDULE)
@allowed(*access.APPROVERS)
@bp.response(200, r.Broadcast)
def approve(id: int):
    """Approve a submitted broadcast: its runs are planned; 409 if its state does not allow it."""
    return jsonify(shapes.broadcast(approvals.approve(g.user, id)))


@bp.post("/broadcasts/<int:id>/return")
@authenticated(Scope.SCHEDULE)
@allowed(*access.APPROVERS)
@bp.arguments(q.ReturnRequest, as_kwargs=True)
@bp.response(200, r.Broadcast)
def send_back(id: int, comment: str):
    """Send a submitted broadcast back to its officer with a comment (required)."""
    return jsonify(shapes.broadcast(approvals.send_back(g.user, id, comment)))


@bp.post("/broadcasts/<int:id>/review")
@authenticated(Scope.SCHEDULE)
@allowed(*access.APPROVERS)
@bp.arguments(q.ReviewRequest, as_kwargs=True)
@bp.response(200, r.Broadcast)
def review(id: int, comment: str | None = None):
    """Mark an emergency sent before approval as reviewed, with an optional comment."""
    return jsonify(shapes.broadcast(approvals.review(g.user, id, comment)))


@bp.get("/approvals")
@authenticated(Scope.READ)
@bp.response(200, r.Waiting(many=True))
def waiting():
    """What waits for the caller: submitted broadcasts and unreviewed emergencies of their wards, oldest first."""
    return jsonify([shapes.waiting(b) for b in approvals.waiting_for(g.user)])
