"""Administrators manage people: list, create, change role and wards, deactivate, reset a password, revoke tokens."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import ServiceError, ValidationFailed
from pa_controller.services import access, fleet, people, sessions, tokens

bp = Blueprint("admin_users", __name__, url_prefix="/admin/users")


@bp.before_request
@login_required
def _administrators_only():
    """Every page here is an administrator's: checked once for the whole blueprint, so none can forget it."""
    access.require_role(current_user, Role.ADMIN)


def _role_and_wards(form: MultiDict) -> tuple[Role, list[str]]:
    """Read the role and its reach from the form: the whole district, or the wards ticked."""
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise ValidationFailed(_("Hãy chọn một vai trò."), fields={"role": "invalid"}) from None
    wards = form.getlist("wards")
    if form.get("reach") == "wards" and not wards:
        raise ValidationFailed(_("Hãy chọn ít nhất một phường, hoặc chọn cả quận."), fields={"wards": "missing"})
    return role, wards if form.get("reach") == "wards" else []


def _form(template: str, status: int = 200, **values):
    return render_template(template, roles=list(Role), wards=fleet.wards_for(None), **values), status


@bp.get("")
def user_list():
    return render_template("users.html", users=people.list_users(), last_logins=sessions.last_logins())


@bp.route("/new", methods=["GET", "POST"])
def new_user():
    if request.method == "GET":
        return _form("user_new.html", form=MultiDict({"role": Role.OFFICER.value, "reach": "wards"}))
    try:
        role, ward_ids = _role_and_wards(request.form)
        user = people.create_user(request.form.get("username", ""), request.form.get("password", ""), role,
                                  wards=ward_ids)
    except ServiceError as exc:
        return _form("user_new.html", exc.status, form=request.form, problem=exc)
    flash(_("Đã tạo người dùng “%(name)s”. Hãy trao mật khẩu tận tay và nhờ họ đổi ngay.", name=user.username), "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


def _user_page(user, status: int = 200, problem: ServiceError | None = None, form: MultiDict | None = None):
    reach = "wards" if user.wards or user.role.needs_wards else "district"
    form = form or MultiDict([("role", user.role.value), ("reach", reach), *(("wards", w) for w in user.ward_ids)])
    return _form("user.html", status, user=user, form=form, problem=problem, tokens=tokens.list_for(user),
                 token_state=tokens.state, now=clock.now(), open_sessions=sessions.open_sessions(user))


@bp.get("/<int:user_id>")
def user_page(user_id: int):
    return _user_page(people.get_user(user_id))


@bp.post("/<int:user_id>")
def edit_user(user_id: int):
    user = people.get_user(user_id)
    try:
        role, ward_ids = _role_and_wards(request.form)
        people.assign(user, role, ward_ids)
    except ServiceError as exc:
        return _user_page(user, exc.status, exc, request.form)
    flash(_("Đã lưu vai trò và phạm vi của “%(name)s”.", name=user.username), "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


@bp.post("/<int:user_id>/active")
def set_active(user_id: int):
    user = people.get_user(user_id)
    active = request.form.get("active") == "1"
    try:
        people.set_active(user, active)
    except ServiceError as exc:
        return _user_page(user, exc.status, exc)
    flash(_("Đã mở lại tài khoản “%(name)s”.", name=user.username) if active else
          _("Đã khóa tài khoản “%(name)s”: mọi phiên đăng nhập và mã API của họ đã chấm dứt.", name=user.username),
          "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


@bp.post("/<int:user_id>/emergencies")
def set_emergencies(user_id: int):
    user = people.set_emergencies(people.get_user(user_id), request.form.get("allowed") == "1")
    flash(_("“%(name)s” được phát khẩn cấp ngay, người duyệt xem xét sau.", name=user.username)
          if user.may_send_emergencies else
          _("Bản tin khẩn cấp của “%(name)s” phải được duyệt như mọi bản tin.", name=user.username), "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


@bp.post("/<int:user_id>/password")
def set_password(user_id: int):
    user = people.get_user(user_id)
    try:
        if request.form.get("password", "") != request.form.get("password_again", ""):
            raise ValidationFailed(_("Hai lần nhập mật khẩu mới không giống nhau."),
                                   fields={"password_again": "different"})
        people.set_password(user, request.form.get("password", ""))
    except ServiceError as exc:
        return _user_page(user, exc.status, exc)
    flash(_("Đã đặt mật khẩu mới cho “%(name)s”; các phiên đăng nhập của họ đã kết thúc.", name=user.username),
          "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


@bp.post("/<int:user_id>/sessions/end")
def end_sessions(user_id: int):
    user = people.get_user(user_id)
    ended = people.end_sessions(user)
    flash(_("Đã kết thúc %(n)s phiên đăng nhập của “%(name)s”.", n=ended, name=user.username), "ok")
    return redirect(url_for("admin_users.user_page", user_id=user.id))


@bp.post("/<int:user_id>/tokens/<int:token_id>/revoke")
def revoke_token(user_id: int, token_id: int):
    token = tokens.revoke(tokens.get(token_id, owner=people.get_user(user_id)))
    flash(_("Đã thu hồi mã API “%(name)s”.", name=token.name), "ok")
    return redirect(url_for("admin_users.user_page", user_id=user_id))
