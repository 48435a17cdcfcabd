"""Signing in with a password, throttled per account and per address in the database (every web worker counts).

Limits an office can live with, and that no one elsewhere can turn against it: an officer who mistypes on a
phone has ten tries in any fifteen minutes from where they are (the account from that address), an office behind
one address thirty among all its people, and an account a hundred from everywhere together (a guesser spread over
many addresses). So a guesser elsewhere cannot lock the real person out: their ten failures lock the account only
from the guesser's address. A limit reached locks until the oldest of those failures is fifteen minutes old:
fifteen minutes after a quick burst. While locked even the right password is refused, without being checked, and
a refused attempt is not counted, so waiting always ends it. The lock is audited when it starts; `flask pa users
unlock` ends it at once.
"""

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask_babel import lazy_gettext as _
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from pa_controller import clock, settings
from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import TooManyRequests, Unauthorized, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import LoginFailure, User
from pa_controller.services import audit, sessions

log = logging.getLogger(__name__)
KEEP_FAILURES = timedelta(days=1)


@dataclass(frozen=True)
class Limit:
    """At most `failures` refused passwords within `window`, counted for what `counts` names."""

    counts: str  # "account_from_address", "address" or "account": also the word the audit log keeps
    failures: int
    window: timedelta

    def where(self, key: str, address: str | None):
        """The failures this limit counts for a try at account `key` from `address` (None: it counts nothing)."""
        same_address = LoginFailure.address.is_(None) if address is None else LoginFailure.address == address
        if self.counts == "address":
            return None if address is None else same_address
        if self.counts == "account":
            return LoginFailure.username == key
        return (LoginFailure.username == key) & same_address


FROM_ONE_ADDRESS = Limit("account_from_address", 10, timedelta(minutes=15))
PER_ADDRESS = Limit("address", 30, timedelta(minutes=15))
PER_ACCOUNT = Limit("account", 100, timedelta(minutes=15))
LIMITS = (FROM_ONE_ADDRESS, PER_ADDRESS, PER_ACCOUNT)


class LoginRefused(Unauthorized):
    code = "login_failed"


class LoginThrottled(TooManyRequests):
    pass


def _key(username: str) -> str:
    """The account a try counts against: as typed, so a name nobody has locks like one somebody has."""
    return username.strip().casefold()[:64]


def _address(address: str | None) -> str | None:
    return (address or "")[:64] or None


def _locked_until(limit: Limit, key: str, address: str | None, now: datetime) -> datetime | None:
    """When the failures a limit counts fall below it again, if they are at it now."""
    if (where := limit.where(key, address)) is None:
        return None
    recent = list(db.session.scalars(
        select(LoginFailure.at).where(where, LoginFailure.at > now - limit.window)
        .order_by(LoginFailure.at.desc()).limit(limit.failures)))
    return recent[-1] + limit.window if len(recent) >= limit.failures else None


def _refuse_if_locked(key: str, address: str | None, now: datetime) -> None:
    address = _address(address)
    for limit in LIMITS:
        if (until := _locked_until(limit, key, address, now)) is None:
            continue
        wait = max(1, math.ceil((until - now).total_seconds()))
        minutes, at = math.ceil(wait / 60), until.astimezone(LOCAL_ZONE).strftime("%H:%M")
        log.info("login refused: %s locked (account %s, address %s) for %s s", limit.counts, key, address, wait)
        message = (_("Có quá nhiều lần đăng nhập sai từ địa chỉ mạng này. Hãy thử lại sau %(n)s phút (lúc %(at)s).",
                     n=minutes, at=at)
                   if limit.counts == "address" else
                   _("Đăng nhập sai quá nhiều lần nên tài khoản này tạm khóa. Hãy thử lại sau %(n)s phút (lúc "
                     "%(at)s); nếu quên mật khẩu, hãy nhờ quản trị viên đặt lại.", n=minutes, at=at))
        raise LoginThrottled(message, wait, extra={"retry_after": wait})


def _fail(key: str, address: str | None, reason: str, now: datetime) -> None:
    """Count a refused password, audit it, and audit the lock it starts if it reaches a limit."""
    address = _address(address)
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP_FAILURES))
    db.session.add(LoginFailure(at=now, username=key, address=address))
    db.session.flush()
    audit.record("login.failed", _audited_name(key), reason=reason)
    for limit in LIMITS:
        where = limit.where(key, address)
        if where is not None and db.session.scalar(select(func.count()).where(
                where, LoginFailure.at > now - limit.window)) == limit.failures:
            target = f"address:{address}" if limit.counts == "address" else _audited_name(key)
            audit.record("login.locked", target, counts=limit.counts, address=address,
                         until=_locked_until(limit, key, address, now).isoformat())
    db.session.commit()


def _audited_name(key: str) -> str:
    """Name a refused login's account in the audit log: a user's name, or a digest of what was typed for nobody
    (someone may have typed their password into the name field, and the log keeps everything for good)."""
    if db.session.scalar(select(User.id).where(func.lower(User.username) == key)) is not None:
        return f"user:{key}"
    return "user:?" + hashlib.sha256(key.encode()).hexdigest()[:12]


def unlock(username: str) -> int:
    """Forget an account's refused logins, so its locks end now (an administrator, from the command line);
    return how many were forgotten."""
    key = _key(username)
    forgotten = db.session.execute(delete(LoginFailure).where(LoginFailure.username == key)).rowcount
    audit.record("login.unlocked", _audited_name(key), forgotten=forgotten)
    db.session.commit()
    return forgotten


@cache
def _decoy(method: str) -> str:
    return generate_password_hash("not anybody's password", method=method)


def _password_matches(user: User | None, password: str) -> bool:
    """Check a password; for nobody, check a decoy, so the time taken does not tell whether the name exists."""
    if user is None:
        check_password_hash(_decoy(settings.current().password_hash_method), password)
        return False
    return user.check_password(password)


def sign_in(username: str, password: str, address: str | None, user_agent: str | None) -> tuple[User, str]:
    """Check a login and open a session; return the user and the session's secret for the cookie."""
    key, now = _key(username), clock.now()
    _refuse_if_locked(key, address, now)
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if not _password_matches(user, password):
        _fail(key, address, "unknown_user" if user is None else "wrong_password", now)
        raise LoginRefused(_("Sai tên đăng nhập hoặc mật khẩu."))
    if not user.active:
        audit.record_now("login.failed", f"user:{user.username}", reason="inactive")
        raise LoginRefused(_("Tài khoản này đã bị khóa; hãy hỏi quản trị viên."))
    db.session.execute(delete(LoginFailure).where(LoginFailure.username == key))  # the account's count starts again
    secret = sessions.start(user, address, user_agent)
    with audit.acting_as(audit.Actor.of_user(user, address)):
        audit.record("login", f"user:{user.username}")
    db.session.commit()
    return user, secret


def verify_password(user: User, password: str, address: str | None) -> None:
    """Check a signed-in person's current password (before changing it), counted like a login."""
    key, now = _key(user.username), clock.now()
    _refuse_if_locked(key, address, now)
    if not user.check_password(password):
        _fail(key, address, "wrong_current_password", now)
        raise ValidationFailed(_("Mật khẩu hiện tại không đúng."), fields={"current_password": "wrong"})
