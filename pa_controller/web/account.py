"""A person's own account: their password, their sessions, their API tokens and their calendar links."""

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pa_controller import clock
from pa_controller.domain import Scope
from pa_controller.errors import ServiceError, ValidationFailed
from pa_controller.extensions import db
from pa_controller.services import audit, logins, people, sessions, tokens
from pa_controller.web.page_session import SESSION_KEY

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
@login_required
def _signed_in():
    """Every page here is about the person signed in."""


def _me():
    return current_user._get_current_object()  # the User itself, not the proxy, for the models it goes into


def _page(status: int = 200, new_token: str | None = None, problem: ServiceError | None = None):
    user = _me()
    response = make_response(render_template(
        "account.html", user=user, open_sessions=sessions.open_sessions(user), tokens=tokens.list_for(user),
        current=lambda row: sessions.is_current(row, session.get(SESSION_KEY)), token_state=tokens.state,
        now=clock.now(), scopes=[s for s in Scope if s in user.role.scopes], new_token=new_token, problem=problem,
        default_days=tokens.DEFAULT_DAYS, max_days=tokens.MAX_DAYS), status)
    if new_token:  # shown once: no copy in a cache or the browser's history
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def account():
    return _page()


@bp.post("/password")
def change_password():
    new, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    try:
        if new != again:
            raise ValidationFailed(_("Hai lần nhập mật khẩu mới không giống nhau."),
                                   fields={"new_password_again": "different"})
        ended = people.change_own_password(_me(), request.form.get("current_password", ""), new,
                                           session.get(SESSION_KEY), request.remote_addr)
    except ServiceError as exc:
        return _page(exc.status, problem=exc)
    flash(_("Đã đổi mật khẩu. %(n)s phiên đăng nhập khác đã kết thúc.", n=ended), "ok")
    return redirect(url_for("account.account"))


@bp.post("/sessions/end-others")
def end_other_sessions():
    ended = sessions.end_all(_me(), sessions.Ended.ENDED_BY_USER, clock.now(), keep=session.get(SESSION_KEY))
    audit.record("session.end_others", f"user:{current_user.username}", sessions_ended=ended)
    db.session.commit()
    flash(_("Đã đăng xuất %(n)s phiên khác.", n=ended), "ok")
    return redirect(url_for("account.account"))


@bp.post("/tokens")
def create_token():
    try:
        days = request.form.get("days", "").strip()
        if days and not (days.isascii() and days.isdigit() and len(days) <= 4):
            raise ValidationFailed(_("Mã API dùng được từ 1 đến %(n)s ngày.", n=tokens.MAX_DAYS),
                                   fields={"days": "invalid"})
        # A session left open on a shared computer must not become a token that outlives it: ask who it is.
        logins.verify_password(_me(), request.form.get("current_password", ""), request.remote_addr)
        token, secret = tokens.issue(_me(), request.form.get("name", ""), request.form.getlist("scopes"),
                                     int(days) if days else None)
    except ServiceError as exc:
        return _page(exc.status, problem=exc)
    return _page(201, new_token=secret)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    token = tokens.revoke(tokens.get(token_id, owner=_me()))
    flash(_("Đã thu hồi mã API “%(name)s”.", name=token.name), "ok")
    return redirect(url_for("account.account"))


@bp.post("/calendar/revoke")
def revoke_calendar_links():
    people.revoke_calendar_keys(_me())
    flash(_("Các đường dẫn lịch cũ không còn dùng được; đường dẫn mới ở trang tổng quan."), "ok")
    return redirect(url_for("account.account"))
