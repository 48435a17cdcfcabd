"""The approval pages: what waits for an approver, and the buttons that submit, approve, send back and review."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pa_controller.errors import ServiceError
from pa_controller.services import access, approvals, fleet
from pa_controller.web.broadcast_pages import render_broadcast

bp = Blueprint("approvals", __name__)


@bp.app_context_processor
def _waiting_count() -> dict:
    """The nav's count of what waits for the signed-in approver (none asked for anyone else)."""
    def count() -> int:
        return len(approvals.waiting_for(current_user)) if current_user.is_authenticated else 0

    return {"waiting_count": count}


@bp.get("/approvals")
@login_required
def waiting():
    access.require_role(current_user, *access.APPROVERS)
    return render_template("approvals.html", waiting=approvals.waiting_for(current_user),
                           ward_names={w.id: w.name for w in fleet.wards_for(None)})


def _done(broadcast_id: int, act, message: str):
    """Act, then show the broadcast with what happened; a refused state or comment is shown on its page."""
    try:
        broadcast = act()
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.message, "error")
        return render_broadcast(broadcast_id, exc.status)
    flash(message % {"title": broadcast.title}, "ok")
    return redirect(url_for("broadcasts.broadcast_page", broadcast_id=broadcast.id))


@bp.post("/broadcasts/<int:broadcast_id>/submit")
@login_required
def submit(broadcast_id: int):
    return _done(broadcast_id, lambda: approvals.submit(current_user, broadcast_id),
                 _("Đã gửi “%(title)s” cho người duyệt."))


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@login_required
def approve(broadcast_id: int):
    return _done(broadcast_id, lambda: approvals.approve(current_user, broadcast_id),
                 _("Đã duyệt “%(title)s”: bản tin sẽ phát theo lịch."))


@bp.post("/broadcasts/<int:broadcast_id>/return")
@login_required
def send_back(broadcast_id: int):
    comment = request.form.get("comment", "")
    return _done(broadcast_id, lambda: approvals.send_back(current_user, broadcast_id, comment),
                 _("Đã trả lại “%(title)s” kèm nhận xét cho cán bộ."))


@bp.post("/broadcasts/<int:broadcast_id>/review")
@login_required
def review(broadcast_id: int):
    comment = request.form.get("comment", "")
    return _done(broadcast_id, lambda: approvals.review(current_user, broadcast_id, comment),
                 _("Đã ghi nhận xem xét bản tin khẩn cấp “%(title)s”."))
