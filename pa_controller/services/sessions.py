"""Sessions of the pages, held on the server: a cookie names one, and ending it here ends it for good.

The signed cookie carries a random session id; only its sha256 is stored. A session ends at logout, after
`session_idle_min` without a request, `session_max_h` after login, when its user changes their password (their
other sessions), or when an administrator resets the password or deactivates the user.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update

from pa_controller import clock, settings
from pa_controller.extensions import db
from pa_controller.models import User, UserSession

SEEN_PRECISION = timedelta(minutes=1)  # last_seen_at is written at most once a minute per session


class Ended(StrEnum):
    """Why a session ended; the login page words the ones a person should be told about."""

    LOGOUT = "logout"
    IDLE = "idle"
    EXPIRED = "expired"  # the absolute timeout
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    DEACTIVATED = "deactivated"
    ENDED_BY_USER = "ended_by_user"  # "log out my other sessions"
    ENDED_BY_ADMIN = "ended_by_admin"


class SessionEnded(Exception):
    def __init__(self, reason: Ended):
        super().__init__(reason.value)
        self.reason = reason


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start(user: User, address: str | None, user_agent: str | None) -> str:
    """Open a session for a user who just proved who they are; return the secret id for the cookie."""
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    db.session.add(UserSession(token_sha256=_digest(secret), user_id=user.id, created_at=now, last_seen_at=now,
                               address=(address or "")[:64] or None, user_agent=(user_agent or "")[:200] or None))
    return secret


def resume(secret: str | None, user_id: int) -> UserSession:
    """Return the open session a cookie names, noting it was used; raise SessionEnded if it is over."""
    row = secret and db.session.scalar(select(UserSession).where(UserSession.token_sha256 == _digest(secret)))
    if not row or row.user_id != user_id:
        raise SessionEnded(Ended.LOGOUT)  # a cookie from before sessions were kept, or made up: ended all the same
    if row.ended_at is not None:
        raise SessionEnded(Ended(row.end_reason))
    now, config = clock.now(), settings.current()
    timed_out = (Ended.EXPIRED if now - row.created_at > timedelta(hours=config.session_max_h)
                 else Ended.IDLE if now - row.last_seen_at > timedelta(minutes=config.session_idle_min) else None)
    if timed_out is not None:
        row.ended_at, row.end_reason = now, timed_out.value
        db.session.commit()
        raise SessionEnded(timed_out)
    if now - row.last_seen_at > SEEN_PRECISION:
        row.last_seen_at = now
        db.session.commit()
    return row


def end(secret: str | None, reason: Ended = Ended.LOGOUT) -> None:
    """End the session a cookie names, if it is open (logout)."""
    if secret:
        db.session.execute(update(UserSession).where(UserSession.token_sha256 == _digest(secret),
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=clock.now(), end_reason=reason.value))


def end_all(user: User, reason: Ended, now: datetime, keep: str | None = None) -> int:
    """End every open session of a user but the one `keep` names, in the caller's transaction; return how many."""
    statement = update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep:
        statement = statement.where(UserSession.token_sha256 != _digest(keep))
    return db.session.execute(statement.values(ended_at=now, end_reason=reason.value)).rowcount


def open_sessions(user: User) -> list[UserSession]:
    """Return a user's sessions that are still open and within their timeouts, latest used first."""
    now, config = clock.now(), settings.current()
    query = (select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None),
        UserSession.created_at > now - timedelta(hours=config.session_max_h),
        UserSession.last_seen_at > now - timedelta(minutes=config.session_idle_min))
        .order_by(UserSession.last_seen_at.desc()))
    return list(db.session.scalars(query))


def last_logins() -> dict[int, datetime]:
    """Return when each user last logged in."""
    return dict(db.session.execute(select(UserSession.user_id, func.max(UserSession.created_at))
                                   .group_by(UserSession.user_id)).tuples().all())


def is_current(row: UserSession, secret: str | None) -> bool:
    return bool(secret) and row.token_sha256 == _digest(secret)
