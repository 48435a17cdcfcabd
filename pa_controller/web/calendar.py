"""`/calendar/<ward>.ics`: a ward's programme for a phone calendar.

Phone calendars subscribe to a URL and cannot log in, so besides a session or a bearer token the feed takes
`?key=`, a signed key naming one user and one ward. The key grants nothing but this feed, and only while that
user may still see that ward.
"""

from flask import Blueprint, Response, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer

from pa_controller import clock
from pa_controller.errors import Unauthorized
from pa_controller.extensions import db
from pa_controller.models import User
from pa_controller.services import people, programme_calendar
from pa_controller.web import ics
from pa_controller.web.labels import label

bp = Blueprint("calendar", __name__)


def _keys() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="calendar-feed")


def feed_key(user: User, ward_id: str) -> str:
    return _keys().dumps({"u": user.id, "w": ward_id})


def _reader(ward_id: str) -> User:
    if current_user.is_authenticated:
        return current_user
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and (user := people.user_for_token(token.strip())):
        return user
    try:
        claim = _keys().loads(request.args.get("key", ""))
    except BadSignature:
        claim = None
    user = db.session.get(User, claim["u"]) if isinstance(claim, dict) and claim.get("w") == ward_id else None
    if user is None or not user.is_active:
        raise Unauthorized(_l("Hãy đăng nhập, gửi mã API, hoặc dùng đường dẫn lịch riêng trên trang tổng quan."))
    return user


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
