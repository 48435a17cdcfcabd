"""Users: who they are, their role and wards, their passwords; each change audited with the change.

Who may call these is the caller's to check: the administrators' pages (web/admin_users.py) and `flask pa users`.
A person changes their own password with `change_own_password`, which needs the current one.
"""

import re

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import Conflict, NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import User, Ward
from pa_controller.services import audit, logins, sessions, tokens
from pa_controller.services.tokens import issue_token, revoke_tokens  # noqa: F401  (their old home)

MIN_PASSWORD = 12
MAX_PASSWORD = 256  # long passphrases welcome; a hash of megabytes is not
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id) if 1 <= user_id <= 2**31 - 1 else None
    if user is None:
        raise NotFound(_("Không có người dùng số %(id)s.", id=user_id))
    return user


def named_user(username: str) -> User:
    """Return the user of that name, or raise NotFound saying so (the command line names people)."""
    if (user := find_user(username)) is None:
        raise NotFound(_("Không có người dùng “%(name)s”.", name=username))
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.active.desc(), User.username)))


def check_password(password: str, username: str) -> None:
    """Refuse a password that is too short, too long, or the username."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(_("Mật khẩu cần ít nhất %(n)s ký tự.", n=MIN_PASSWORD), fields={"password": "short"})
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(_("Mật khẩu dài nhất %(n)s ký tự.", n=MAX_PASSWORD), fields={"password": "long"})
    if password.strip().casefold() == username.casefold():
        raise ValidationFailed(_("Mật khẩu không được trùng tên đăng nhập."), fields={"password": "username"})


def _wards(role: Role, ward_ids) -> list[Ward]:
    """The wards a user of `role` is given, checked: the district's roles have none, an officer at least one."""
    ward_ids = sorted(set(ward_ids or ()))
    wards = [db.session.get(Ward, w) for w in ward_ids]
    if unknown := [w for w, ward in zip(ward_ids, wards, strict=True) if ward is None]:
        raise ValidationFailed(_("Không có phường mang mã %(ids)s (GET /api/v1/wards).", ids=", ".join(unknown)),
                               fields={"wards": "unknown"})
    if role.district_wide and wards:
        raise ValidationFailed(_("Quản trị viên và kỹ thuật viên làm việc trên cả quận; đừng chọn phường nào."),
                               fields={"wards": "district"})
    if role.needs_wards and not wards:
        raise ValidationFailed(_("Cán bộ văn hóa phường cần thuộc ít nhất một phường có thật."),
                               fields={"wards": "missing"})
    return wards


def _described(user: User) -> dict:
    return {"role": user.role.value, "wards": sorted(user.ward_ids), "active": user.active}


def create_user(username: str, password: str, role: Role, ward_id: str | None = None, *,
                wards: list[str] | None = None) -> User:
    """Add a user with their wards (`ward_id` for one, `wards` for several)."""
    username = username.strip()
    if not USERNAME.match(username):
        raise ValidationFailed(_("Tên đăng nhập gồm 1–64 chữ cái không dấu, chữ số và . _ @ -, bắt đầu bằng chữ "
                                 "hoặc số."), fields={"username": "invalid"})
    if find_user(username) is not None:
        raise Conflict(_("Đã có người dùng “%(name)s”; hãy chọn tên khác.", name=username),
                       fields={"username": "taken"})
    check_password(password, username)
    user = User(username=username, role=Role(role), created_at=clock.now(),
                wards=_wards(Role(role), [ward_id] if ward_id else wards))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", f"user:{username}", after=_described(user))
    db.session.commit()
    return user


def assign(user: User, role: Role | None = None, ward_ids: list[str] | None = None) -> User:
    """Give a user another role, other wards, or both; rights change at their next request."""
    role = Role(role) if role is not None else user.role
    new_wards = _wards(role, ward_ids if ward_ids is not None else [] if role.district_wide else user.ward_ids)
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        _keep_an_administrator(user)
    before = _described(user)
    user.role, user.wards = role, new_wards
    old, new = audit.changed(before, _described(user))
    if new:
        audit.record("user.edit", f"user:{user.username}", before=old, after=new)
    db.session.commit()
    return user


def set_active(user: User, active: bool) -> User:
    """Deactivate (every session ended, every token revoked, calendar links refused) or reactivate a user."""
    if user.active == active:
        return user
    now, ended = clock.now(), {}
    if not active:
        if user.role is Role.ADMIN:
            _keep_an_administrator(user)
        ended = {"sessions_ended": sessions.end_all(user, sessions.Ended.DEACTIVATED, now),
                 "tokens_revoked": tokens.revoke_all(user, now)}
        user.calendar_key_version += 1
    user.active = active
    audit.record("user.activate" if active else "user.deactivate", f"user:{user.username}", **ended)
    db.session.commit()
    return user


def set_emergencies(user: User, allowed: bool) -> User:
    """Let a user send emergencies at once, reviewed after they go out, or take that right away (issue 14)."""
    if user.may_send_emergencies != allowed:
        audit.record("user.emergencies", f"user:{user.username}", before={"may_send_emergencies": not allowed},
                     after={"may_send_emergencies": allowed})
        user.may_send_emergencies = allowed
        db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """Give a user a new password (an administrator, or the command line): every session of theirs ends, and their
    tokens and calendar links with it, since a reset often follows a password someone else learnt."""
    check_password(password, user.username)
    now = clock.now()
    user.set_password(password)
    user.password_changed_at = now
    user.calendar_key_version += 1
    ended = {"sessions_ended": sessions.end_all(user, sessions.Ended.PASSWORD_RESET, now),
             "tokens_revoked": tokens.revoke_all(user, now)}
    audit.record("user.set_password", f"user:{user.username}", **ended)
    db.session.commit()


def change_own_password(user: User, current: str, new: str, keep_session: str | None, address: str | None) -> int:
    """Change one's own password, the current one required; end every other session and return how many."""
    logins.verify_password(user, current, address)
    if new == current:
        raise ValidationFailed(_("Mật khẩu mới phải khác mật khẩu hiện tại."), fields={"new_password": "same"})
    check_password(new, user.username)
    now = clock.now()
    user.set_password(new)
    user.password_changed_at = now
    ended = sessions.end_all(user, sessions.Ended.PASSWORD_CHANGED, now, keep=keep_session)
    audit.record("password.change", f"user:{user.username}", sessions_ended=ended)
    db.session.commit()
    return ended


def end_sessions(user: User) -> int:
    """End every session of a user now (an administrator: a lost phone); return how many."""
    ended = sessions.end_all(user, sessions.Ended.ENDED_BY_ADMIN, clock.now())
    audit.record("user.end_sessions", f"user:{user.username}", sessions_ended=ended)
    db.session.commit()
    return ended


def revoke_calendar_keys(user: User) -> None:
    """Refuse every calendar link the user has handed out; the dashboard shows new ones."""
    user.calendar_key_version += 1
    audit.record("calendar.revoke", f"user:{user.username}")
    db.session.commit()


def _keep_an_administrator(user: User) -> None:
    """Refuse to take away the last active administrator: nobody could manage users any more."""
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
    if not others:
        raise Conflict(_("“%(name)s” là quản trị viên cuối cùng còn hoạt động; hãy cho người khác làm quản trị viên "
                         "trước.", name=user.username))
