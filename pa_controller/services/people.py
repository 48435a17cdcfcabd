"""Users, passwords and API tokens."""

import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import delete, select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import ApiToken, User, Ward

MIN_PASSWORD = 12
LAST_USED_PRECISION = timedelta(minutes=1)


def create_user(username: str, password: str, role: Role, ward_id: str | None = None) -> User:
    """Add a user; an officer belongs to exactly one ward."""
    if not username or len(username) > 64 or db.session.scalar(select(User).where(User.username == username)):
        raise ValidationFailed(_("Tên đăng nhập “%(name)s” trống, quá dài hoặc đã có người dùng.", name=username),
                               fields={"username": "invalid"})
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(_("Mật khẩu cần ít nhất %(n)s ký tự.", n=MIN_PASSWORD), fields={"password": "short"})
    if role is Role.OFFICER and (ward_id is None or db.session.get(Ward, ward_id) is None):
        raise ValidationFailed(_("Cán bộ văn hóa phường cần thuộc một phường có thật."), fields={"ward_id": "invalid"})
    user = User(username=username, role=role, ward_id=ward_id, created_at=clock.now())
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.check_password(password):
        return None
    return user


def issue_token(user: User, name: str) -> str:
    """Create an API token and return it; only its digest is kept."""
    token = "loa_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, name=name, token_sha256=ApiToken.digest(token), created_at=clock.now()))
    db.session.commit()
    return token


def revoke_tokens(user: User, name: str) -> int:
    """Delete a user's tokens of one name; return how many."""
    result = db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == name))
    db.session.commit()
    return result.rowcount


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == ApiToken.digest(token)))
    if row is None or not row.user.active:
        return None
    now = clock.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now  # at most one write a minute per token, not one per request
        db.session.commit()
    return row.user
