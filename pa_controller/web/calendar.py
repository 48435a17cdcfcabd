"""`/calendar/<ward>.ics`: a ward's programme for a phone calendar.

Phone calendars subscribe to a URL and cannot log in, so besides a session or a bearer token (scope `read`) the
feed takes `?key=`, a signed key naming one user, one ward, the user's calendar-key version and when it was issued.
The key grants nothing but this feed, only while that user is active and may still see that ward, for
KEY_LIFETIME, and until the user revokes their calendar links (the account page bumps the version).
"""

from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from pa_controller import clock
from pa_controller.domain import Scope
from pa_controller.errors import Unauthorized
from pa_controller.extensions import db
from pa_controller.models import User
from pa_controller.services import programme_calendar, tokens
from pa_controller.web import ics
from pa_controller.web.labels import label

bp = Blueprint("calendar", __name__)
KEY_LIFETIME = timedelta(days=365)  # a phone calendar polls for months; the dashboard always shows a fresh link


class _Signer(TimestampSigner):
    """Keys dated by LoaNet's clock, which tests set."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _keys() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="calendar-feed", signer=_Signer)


def feed_key(user: User, ward_id: str) -> str:
    return _keys().dumps({"u": user.id, "w": ward_id, "v": user.calendar_key_version})


def _key_holder(ward_id: str) -> User:
    """The user a `?key=` names for this ward, if it is genuine, current and theirs is active."""
    try:
        claim = _keys().loads(request.args.get("key", ""), max_age=KEY_LIFETIME.total_seconds())
    except SignatureExpired:
        raise Unauthorized(_l("Đường dẫn lịch này đã quá một năm; hãy lấy đường dẫn mới ở trang tổng quan."),
                           code="calendar_key_expired") from None
    except BadSignature:
        claim = None
    if not isinstance(claim, dict) or claim.get("w") != ward_id or not isinstance(claim.get("u"), int):
        raise Unauthorized(_l("Hãy đăng nhập, gửi mã API, hoặc dùng đường dẫn lịch riêng trên trang tổng quan."))
    user = db.session.get(User, claim["u"])
    if user is None or not user.is_active or claim.get("v") != user.calendar_key_version:
        raise Unauthorized(_l("Đường dẫn lịch này đã bị thu hồi; hãy lấy đường dẫn mới ở trang tổng quan."),
                           code="calendar_key_revoked")
    return user


def _reader(ward_id: str) -> User:
    if current_user.is_authenticated:
        return current_user
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return tokens.authenticate(secret.strip(), Scope.READ).user
    return _key_holder(ward_id)


@bp.get("/calendar/<ward_id>.ics")
def ward_calendar(ward_id: str):
    now = clock.now()
    ward, programme = programme_calendar.ward_programme(_reader(ward_id), ward_id, now)
    events = [
        ics.Event(uid=f"loanet-{broadcast.id}-{ics.stamp(slot.start)}@{request.host}", start=slot.start,
                  end=slot.end, summary=broadcast.title, categories=broadcast.priority.value,
                  description=f"{label(broadcast.priority)} · LoaNet")
        for broadcast, slot in programme
    ]
    body = ics.calendar(f"LoaNet – {ward.name}", events, now)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{ward_id}.ics"', "Cache-Control": "private, max-age=300"})
