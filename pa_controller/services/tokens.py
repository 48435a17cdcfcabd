"""API tokens: issued to a person with scopes and an expiry, stored as a digest, revocable, last use recorded.

A token's scopes narrow its user's rights and never widen them: a request needs the scope in the token and in the
user's role (Role.scopes), and the role's own checks still apply.
"""

import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select, update

from pa_controller import clock
from pa_controller.domain import Scope
from pa_controller.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import ApiToken, User
from pa_controller.services import audit

DEFAULT_DAYS = 90
MAX_DAYS = 365
LAST_USED_PRECISION = timedelta(minutes=1)
PREFIX = "loa_"
SCOPE_NAMES = {Scope.READ: _("đọc"), Scope.SCHEDULE: _("lên lịch"), Scope.FLEET: _("mạng loa"),
               Scope.ADMIN: _("quản trị"), Scope.REPORT: _("báo cáo lên cấp trên")}


class ScopeMissing(Forbidden):
    """The token is good but was not issued for this (RFC 6750's insufficient_scope)."""

    code = "insufficient_scope"

    def __init__(self, token: ApiToken, needed: Scope):
        if needed in token.user.role.scopes:
            message = _("Mã API này không có quyền “%(scope)s” (%(name)s) mà việc này cần; nó có: %(has)s. Hãy tạo "
                        "một mã có quyền đó.", scope=needed.value, name=SCOPE_NAMES[needed], has=_listed(token))
        else:
            message = _("Việc này cần quyền “%(scope)s” (%(name)s), mà vai trò của người dùng mã này không có.",
                        scope=needed.value, name=SCOPE_NAMES[needed])
        super().__init__(message, extra={"required_scope": needed.value,
                                         "token_scopes": sorted(s.value for s in _effective(token))})
        self.needed = needed

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.needed.value}"'}


class TokenRefused(Unauthorized):
    """No token, an unknown one, or one that no longer works; `code` says which."""

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer" if self.code == "unauthorized" else 'Bearer error="invalid_token"'}


def _listed(token: ApiToken) -> str:
    return ", ".join(sorted(s.value for s in _effective(token))) or "—"


def _effective(token: ApiToken) -> frozenset[Scope]:
    return token.scope_set & token.user.role.scopes


def read_scopes(values, user: User) -> frozenset[Scope]:
    """Check scope names a person asked for against their role; none asked means all their role can use."""
    if not values:
        return user.role.scopes
    try:
        asked = frozenset(Scope(str(v).strip()) for v in values)
    except ValueError:
        raise ValidationFailed(_("Quyền của mã API là một hay nhiều trong: %(all)s.",
                                 all=", ".join(s.value for s in Scope)), fields={"scopes": "invalid"}) from None
    if beyond := asked - user.role.scopes:
        raise ValidationFailed(_("Vai trò của %(name)s không dùng được quyền %(scopes)s; chọn trong: %(allowed)s.",
                                 name=user.username, scopes=", ".join(sorted(s.value for s in beyond)),
                                 allowed=", ".join(sorted(s.value for s in user.role.scopes))),
                               fields={"scopes": "beyond_role"})
    return asked


def issue(user: User, name: str, scopes=None, days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for a user and return it with its secret, which is shown once and never stored."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed(_("Hãy đặt cho mã API một tên từ 1 đến 100 ký tự (để biết nó dùng vào việc gì)."),
                               fields={"name": "invalid"})
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(_("Mã API dùng được từ 1 đến %(n)s ngày.", n=MAX_DAYS), fields={"days": "invalid"})
    if not user.active:
        raise ValidationFailed(_("Người dùng “%(name)s” đã bị khóa; không tạo mã cho họ được.", name=user.username),
                               fields={"user": "inactive"})
    granted = read_scopes(scopes, user)
    secret = PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken(user_id=user.id, user=user, name=name, token_sha256=ApiToken.digest(secret),
                     scopes=" ".join(s.value for s in Scope if s in granted), created_at=now,
                     expires_at=now + timedelta(days=days))
    db.session.add(token)
    db.session.flush()
    audit.record("token.create", f"token:{token.id}", owner=user.username, name=name, scopes=token.scopes,
                 expires_at=token.expires_at.isoformat())
    db.session.commit()
    return token, secret


def issue_token(user: User, name: str) -> str:
    """Create a token with every scope the user's role can use, for the default lifetime; return its secret."""
    return issue(user, name)[1]


def authenticate(secret: str, needed: Scope) -> ApiToken:
    """Return the token of `secret` if it may be used for `needed` now, or raise TokenRefused or ScopeMissing."""
    token = secret and db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == ApiToken.digest(secret)))
    if not token:
        raise TokenRefused(_("Hãy gửi một mã API hợp lệ: 'Authorization: Bearer <mã>'."))
    now = clock.now()
    if token.revoked_at is not None:
        raise TokenRefused(_("Mã API “%(name)s” đã bị thu hồi; hãy tạo mã mới ở trang Tài khoản.", name=token.name),
                           code="token_revoked")
    if token.expires_at <= now:
        raise TokenRefused(_("Mã API “%(name)s” đã hết hạn; hãy tạo mã mới ở trang Tài khoản.", name=token.name),
                           code="token_expired", extra={"expired_at": token.expires_at})
    if not token.user.active:
        raise TokenRefused(_("Tài khoản của mã API này đã bị khóa."), code="user_inactive")
    if not needed.granted_by & _effective(token):
        raise ScopeMissing(token, needed)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now  # at most one write a minute per token, not one per request
        db.session.commit()
    return token


def user_for_token(secret: str, needed: Scope = Scope.READ) -> User | None:
    """Return the user of a token that may `needed` now, else None."""
    try:
        return authenticate(secret, needed).user
    except (TokenRefused, ScopeMissing):
        return None


def list_for(user: User | None = None) -> list[ApiToken]:
    """Return a user's tokens (everyone's if None), live ones first, newest first."""
    query = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                      ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))


def get(token_id: int, owner: User | None = None) -> ApiToken:
    """Return a token (of `owner`, if given)."""
    token = db.session.get(ApiToken, token_id) if 1 <= token_id <= 2**31 - 1 else None
    if token is None or (owner is not None and token.user_id != owner.id):
        raise NotFound(_("Không có mã API số %(id)s.", id=token_id))
    return token


def revoke(token: ApiToken) -> ApiToken:
    """Revoke a token now: its next request is refused."""
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        audit.record("token.revoke", f"token:{token.id}", owner=token.user.username, name=token.name)
        db.session.commit()
    return token


def revoke_tokens(user: User, name: str) -> int:
    """Revoke a user's live tokens of one name; return how many."""
    found = [t for t in list_for(user) if t.name == name and t.revoked_at is None]
    for token in found:
        revoke(token)
    return len(found)


def revoke_all(user: User, now: datetime) -> int:
    """Revoke every live token of a user, in the caller's transaction; return how many."""
    return db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now)).rowcount


def state(token: ApiToken, now: datetime) -> str:
    """Say whether a token works: live, expired or revoked."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now else "live"
