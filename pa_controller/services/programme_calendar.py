"""A ward's programme for the coming weeks, as its officers would put it in a phone calendar."""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _

from pa_controller.domain import ApprovalState
from pa_controller.errors import NotFound
from pa_controller.extensions import db
from pa_controller.models import Broadcast, User, Ward
from pa_controller.services import access, timetable
from pa_controller.services.timetable import Slot

DAYS_AHEAD = 31


def ward_programme(user: User, ward_id: str, now: datetime) -> tuple[Ward, list[tuple[Broadcast, Slot]]]:
    """Return the ward and every run planned for it from a day ago to a month ahead, in time order."""
    ward = db.session.get(Ward, ward_id)
    if ward is None:
        raise NotFound(_("Không có phường mang mã %(id)s.", id=ward_id))
    access.require_wards(user, {ward_id})
    found = [
        (booking.broadcast, slot)
        for booking in timetable.bookings(now - timedelta(days=1), now + timedelta(days=DAYS_AHEAD))
        if ward_id in booking.ward_ids and booking.broadcast.approval is ApprovalState.APPROVED  # what will sound
        for slot in booking.slots
    ]
    return ward, sorted(found, key=lambda pair: pair[1].start)
