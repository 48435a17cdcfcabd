"""The page session: which user a cookie names, while its server-side session is open (services/sessions.py)."""

import re

from flask import flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from pa_controller import settings
from pa_controller.extensions import db
from pa_controller.models import User
from pa_controller.services import sessions

SESSION_KEY = "sid"  # the session's secret id, in the signed cookie
# One slash, then no second slash or backslash, no space or control character (browsers drop tabs and read
# "/\t/evil" as "//evil"): a path here, never another host.
LOCAL_PATH = re.compile(r"/(?![/\\])[^\s\\\x00-\x1f\x7f]*")  # whole: fullmatch, so no trailing newline


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the cookie's user, if the session it names is still open."""
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None:
        return None
    try:
        sessions.resume(session.get(SESSION_KEY), user.id)
        if not user.active:  # deactivation ends the sessions too; this is the belt to those braces
            raise sessions.SessionEnded(sessions.Ended.DEACTIVATED)
    except sessions.SessionEnded as ended:
        g.session_ended = ended.reason
        session.clear()
        return None
    return user


def _why_ended(reason: sessions.Ended | None) -> str:
    config = settings.current()
    Ended = sessions.Ended
    return {
        Ended.IDLE: _("Phiên làm việc đã kết thúc sau %(n)s phút không dùng; hãy đăng nhập lại.",
                      n=round(config.session_idle_min)),
        Ended.EXPIRED: _("Phiên làm việc đã quá %(n)s giờ; hãy đăng nhập lại.", n=round(config.session_max_h)),
        Ended.PASSWORD_CHANGED: _("Mật khẩu đã được đổi ở một phiên khác; hãy đăng nhập bằng mật khẩu mới."),
        Ended.PASSWORD_RESET: _("Quản trị viên đã đặt mật khẩu mới cho bạn; hãy đăng nhập bằng mật khẩu đó."),
        Ended.DEACTIVATED: _("Tài khoản này đã bị khóa; hãy hỏi quản trị viên."),
        Ended.LOGOUT: _("Phiên này đã đăng xuất; hãy đăng nhập lại."),
        Ended.ENDED_BY_USER: _("Phiên này đã được kết thúc từ một phiên khác; hãy đăng nhập lại."),
        Ended.ENDED_BY_ADMIN: _("Quản trị viên đã kết thúc phiên này; hãy đăng nhập lại."),
    }.get(reason, _("Hãy đăng nhập để xem trang này."))


def log_in_first():
    """Send someone without an open session to the login page, saying why, and back here afterwards."""
    flash(_why_ended(g.get("session_ended")), "error")
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


def safe_next(target: str | None) -> str | None:
    """A path on this site to return to after login; anything else (another host, a scheme) is dropped."""
    return target if target and LOCAL_PATH.fullmatch(target) else None
