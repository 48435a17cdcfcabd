"""The upward API's questions and answers, format loanet.upward/1 (docs/upward-api.md says what each field means)."""

import re

import marshmallow as ma
from flask_babel import lazy_gettext as _
from marshmallow.fields import Boolean, Float, Integer, List, Nested, String

from pa_controller import clock
from pa_controller.domain import ClusterStatus, ProgrammeKind
from pa_controller.services.upward import DEFAULT_LIMIT, FORMAT, MAX_LIMIT
from pa_controller.web.schemas.common import BASE, QuerySchema, text, whole
from pa_protocol import DeliveryState, Priority, RunState

BAD_MOMENT = _("Thời điểm viết theo ISO 8601 (RFC 3339), ví dụ 2026-12-07T00:00:00+07:00 hay 2026-12-07 (0 giờ); "
               "không ghi múi giờ là giờ Việt Nam. Trong URL, hãy mã hóa dấu + (URL-encode).")
BACKWARDS = _("`to` phải sau `from`.")
OFFSET_AS_SPACE = re.compile(r" (\d\d(:?\d\d)?)$")  # "+07:00" sent unencoded in a URL arrives as " 07:00"


class Moment(ma.fields.String):
    """A moment in ISO 8601, read as aware UTC; without an offset it is Asia/Ho_Chi_Minh (clock.parse_local)."""

    default_error_messages = {**BASE, "invalid": BAD_MOMENT}

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"format": "date-time", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not 1 <= len(value) <= 64 or "\x00" in value:
            raise self.make_error("invalid")
        try:
            return clock.parse_local(OFFSET_AS_SPACE.sub(r"+\1", value.strip()))
        except ValueError:
            raise self.make_error("invalid") from None


class UpwardQuery(QuerySchema):
    ward = text(1, 32, load_default=None, metadata={"description": "only this ward (one of yours)"})
    limit = whole(1, MAX_LIMIT, strict=False, load_default=DEFAULT_LIMIT,
                  metadata={"description": f"items a page, 1 to {MAX_LIMIT}"})
    cursor = text(1, 1000, load_default=None, metadata={"description": "where to go on: take it from `next`"})


class UpwardWindowQuery(UpwardQuery):
    since = Moment(data_key="from", load_default=None, metadata={
        "description": "ISO 8601; without an offset Asia/Ho_Chi_Minh; included"})
    until = Moment(data_key="to", load_default=None, metadata={
        "description": "ISO 8601; without an offset Asia/Ho_Chi_Minh; excluded"})

    @ma.validates_schema
    def _forwards(self, values: dict, **_kwargs) -> None:
        if values.get("since") and values.get("until") and values["until"] <= values["since"]:
            raise ma.ValidationError([BACKWARDS], field_name="to")


# --- answers --------------------------------------------------------------------------------------------------

Time = String(allow_none=True, metadata={"format": "date-time", "description": "RFC 3339 UTC"})


def words(enum, **kwargs) -> ma.fields.Enum:
    return ma.fields.Enum(enum, by_value=True, **kwargs)


class UpwardWindow(ma.Schema):
    since = String(data_key="from", metadata={"format": "date-time", "description": "included, RFC 3339 UTC"})
    until = String(data_key="to", metadata={"format": "date-time", "description": "excluded, RFC 3339 UTC"})


class UpwardPage(ma.Schema):
    format = String(metadata={"enum": [FORMAT], "description": "the format and its major version"})
    list = String(metadata={"description": "devices, schedule or plays"})
    generated_at = String(metadata={"format": "date-time", "description": "when the server answered, RFC 3339 UTC"})
    next = String(allow_none=True, metadata={
        "description": "the next page, a path with its query on this server; null on the last page"})


class UpwardWard(ma.Schema):
    id, name = String(), String()


class UpwardDevice(ma.Schema):
    id = String(metadata={"description": "the cluster's id (mã cụm loa)"})
    name = String()
    ward = String()
    ward_name = String()
    lat, lon = Float(), Float()
    speakers = Integer(metadata={"description": "horns on its pole"})
    in_service = Boolean(metadata={"description": "false: retired, kept for its history"})
    status = words(ClusterStatus)
    status_since = Time
    last_heartbeat_at = Time
    last_seen_at = Time
    rssi_dbm = Float(allow_none=True)
    amp_ok = Boolean(allow_none=True)
    speakers_ok = Integer(allow_none=True)
    speakers_total = Integer(allow_none=True)
    volume = Integer(allow_none=True, metadata={"description": "0–100"})
    temp_c = Float(allow_none=True)
    firmware = String(allow_none=True)


class UpwardDevices(UpwardPage):
    items = List(Nested(UpwardDevice))


class UpwardRun(ma.Schema):
    run_id = Integer()
    broadcast_id = Integer()
    title = String()
    kind = words(ProgrammeKind)
    priority = words(Priority)
    wards = List(Nested(UpwardWard), metadata={"description": "the wards it reaches (yours only)"})
    start_at = Time
    end_at = Time
    duration_ms = Integer()
    recurring = Boolean()
    state = words(RunState)
    reason = String(allow_none=True)


class UpwardSchedule(UpwardPage):
    window = Nested(UpwardWindow)
    items = List(Nested(UpwardRun))


class UpwardPlay(ma.Schema):
    run_id = Integer()
    broadcast_id = Integer()
    title = String()
    priority = words(Priority)
    cluster = String()
    ward = String()
    start_at = Time
    duration_ms = Integer()
    state = words(DeliveryState)
    final = Boolean()
    state_at = Time
    ready_at = Time
    started_at = Time
    ended_at = Time
    reason = String(allow_none=True)
    reason_text = String(allow_none=True)
    inferred = Boolean()


class UpwardPlays(UpwardPage):
    window = Nested(UpwardWindow)
    items = List(Nested(UpwardPlay))
