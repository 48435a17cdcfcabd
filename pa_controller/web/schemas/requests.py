"""What API v1 takes: query strings and bodies."""

import re
from urllib.parse import urlsplit

import marshmallow as ma
from flask_babel import lazy_gettext as _
from marshmallow.fields import List, Nested, Raw, String

from pa_controller.domain import ClusterStatus, ProgrammeKind
from pa_controller.recurrence import EXDATES_SHAPE, MAX_EXDATES, MAX_PER_DAY, TIMES_SHAPE
from pa_controller.services.fleet import LAT_RANGE, LON_RANGE, SPEAKERS
from pa_controller.services.fleet_admin import FORMULA_STARTS
from pa_controller.services.proposals import (
    BAD_UNTIL,
    MAX_GAP_S,
    MAX_ID,
    MAX_ITEMS,
    MAX_REPEAT,
    MAX_TARGET_IDS,
    NO_AUDIO,
    NO_STREAM,
    RELAY_SECONDS,
    STREAM_SCHEMES,
)
from pa_controller.services.remote import MAX_CLUSTERS, MAX_LIST, PARAMS
from pa_controller.services.speech import MAX_TEXT, TEXT_LENGTH, Speed
from pa_controller.web.schemas.common import (
    SPACE,
    Day,
    Month,
    QuerySchema,
    RequestSchema,
    choice,
    flag,
    moment,
    number,
    switch,
    text,
    whole,
)
from pa_protocol import CommandType, DeliveryState, Priority, RunState

WEEKDAYS = _("weekdays phải liệt kê các thứ từ 1 (thứ Hai) đến 7 (Chủ nhật), hoặc là null.")


def ids(high: int = MAX_TARGET_IDS, low: int = 0, too_few=None, **kwargs) -> List:
    message = _("Nhiều nhất %(n)s mã một lần.", n=high)
    checks = [ma.validate.Length(max=high, error=message),
              *([ma.validate.Length(min=low, error=too_few)] if low else [])]
    return List(text(1, 64), validate=checks,
                error_messages={"invalid": _("Phải là một danh sách mã.")}, **kwargs)


def group_ids(**kwargs) -> List:
    """Groups of clusters by number (services/groups.py)."""
    return List(whole(1, MAX_ID, strict=kwargs.pop("strict", True)),
                validate=ma.validate.Length(max=MAX_TARGET_IDS, error=_("Nhiều nhất %(n)s mã một lần.",
                                                                         n=MAX_TARGET_IDS)),
                error_messages={"invalid": _("Phải là một danh sách số nhóm.")}, **kwargs)


def param(name: str, ctype: CommandType) -> ma.fields.Integer:
    """A remote command's own parameter, in the range the command takes (remote.PARAMS)."""
    low, high, default = PARAMS[ctype][name]
    message = _("%(name)s phải là số nguyên từ %(low)s đến %(high)s.", name=name, low=low, high=high)
    when = f"{ctype.value}; {default} when not given" if default is not None else f"{ctype.value}, required"
    return whole(low, high, message=message, metadata={"description": when})


class ClustersQuery(QuerySchema):
    ward = text(metadata={"description": "a ward id"})
    status = choice(ClusterStatus)


class AudioQuery(QuerySchema):
    composed = flag(metadata={"description": "false: the recordings; true: the composed programmes"})


class DryRunQuery(QuerySchema):
    dry_run = String(metadata={"description": "true: answer {next_runs, conflicts, violations} without saving"})


class RunsQuery(QuerySchema):
    broadcast_id = whole(1, MAX_ID, strict=False)
    state = choice(RunState)


class FilterQuery(QuerySchema):
    """A page's filter form, also the API's: a field left empty is a filter not set."""

    @ma.pre_load
    def _drop_empty(self, data, **_kwargs) -> dict:
        return {key: value for key, value in data.items() if value != ""}


class BroadcastsQuery(FilterQuery):
    """The broadcast list's filters (page and API): a ward, a run state, local days, a page."""

    ward = text(1, 32, load_default=None, metadata={"description": "a ward id"})
    state = choice(RunState, load_default=None,
                   metadata={"description": "broadcasts with a run in this state (in the days asked, if any)"})
    since = Day(data_key="from", load_default=None, metadata={"description": "first local day, YYYY-MM-DD"})
    until = Day(data_key="to", load_default=None, metadata={"description": "last local day, YYYY-MM-DD (included)"})
    day = Day(load_default=None, metadata={"description": "one local day: from and to at once"})
    cancelled = flag(load_default=False, metadata={"description": "true: cancelled broadcasts too"})
    page = whole(1, 1_000_000, strict=False, load_default=1)

    @ma.post_load
    def _one_day(self, values: dict, **_kwargs) -> dict:
        day = values.pop("day")
        if day is not None:
            values["since"] = values["until"] = day
        return values


class BroadcastListQuery(BroadcastsQuery):
    """The broadcast list page's filters: its day fields as the officer types them, dd/mm/yyyy, or ISO."""

    since = Day(local=True, data_key="from", load_default=None)
    until = Day(local=True, data_key="to", load_default=None)
    day = Day(local=True, load_default=None)


class CalendarQuery(FilterQuery):
    """The calendar page: a week (from its Monday) or a day around a local date, for a ward or all the reader's."""

    view = String(load_default="week", validate=ma.validate.OneOf(["week", "day"], error=_(
        "Cách xem phải là week (tuần) hoặc day (ngày).")))
    day = Day(local=True, data_key="date", load_default=None)
    ward = text(1, 32, load_default=None)


class CommandsQuery(QuerySchema):
    cluster = text(metadata={"description": "a cluster id"})
    limit = whole(1, MAX_LIST, strict=False, load_default=100)


class IncidentsQuery(QuerySchema):
    open_only = flag(data_key="open", load_default=True, metadata={"description": "false: closed ones too"})


class ReturnRequest(RequestSchema):
    comment = text(1, 1000, _("Hãy ghi nhận xét để cán bộ biết cần sửa gì (1–1000 ký tự)."), required=True)


class ReviewRequest(RequestSchema):
    comment = text(0, 1000, allow_none=True)


class StopRequest(RequestSchema):
    reason = text(1, 500, _("Hãy ghi lý do phải dừng tất cả (1–500 ký tự)."), required=True)


def _command_shapes() -> dict:
    """What remote.parse_params and select_clusters check across fields, for the document."""
    every = {name for spec in PARAMS.values() for name in spec}
    return {"oneOf": [{"required": ["clusters"]}, {"required": ["ward"]}], "allOf": [
        {"if": {"properties": {"type": {"const": ctype.value}}, "required": ["type"]},
         "then": {"required": sorted(n for n, (_low, _high, default) in spec.items() if default is None),
                  "properties": {name: False for name in sorted(every - set(spec))}}}
        for ctype, spec in PARAMS.items()]}


class CommandRequest(RequestSchema):
    OPENAPI = _command_shapes()

    type = choice(CommandType, list(PARAMS), required=True)
    clusters = ids(MAX_CLUSTERS, 1, _("clusters phải là một danh sách mã cụm loa, không rỗng."))
    ward = text(1, 64, metadata={"description": "instead of clusters: every cluster in service there"})
    volume = param("volume", CommandType.SET_VOLUME)
    duration_ms = param("duration_ms", CommandType.TEST_TONE)


class MaintenanceRequest(RequestSchema):
    starts_at, ends_at = moment(required=True), moment(required=True)
    reason = text(3, 500, _("Hãy ghi công việc bảo trì là gì (3–500 ký tự)."), required=True)
    ward = text(1, 64, metadata={"description": "a ward; neither ward nor cluster: the whole district"})
    cluster = text(1, 64)


NO_TARGETS = _("Hãy chọn nơi phát: toàn quận, hoặc ít nhất một phường, nhóm hay cụm loa "
               '(API: {"all": true} hoặc {"wards": [...], "groups": [...], "clusters": [...]}).')
FIELD_WORDS = {"repeat": _("Số lần phát lặp"), "gap_s": _("Khoảng cách giữa các lần lặp (giây)"),
               "duration_s": _("Thời lượng tiếp sóng (giây)")}
ITEMS = _("Chương trình gồm từ 1 đến %(n)s bản ghi, phát nối tiếp.", n=MAX_ITEMS)


class Exactly(ma.validate.Equal):
    """Equal, with its message taken as written: NO_TARGETS shows JSON's braces, which str.format would read."""

    def _format_error(self, value) -> str:
        return self.error


class Targets(RequestSchema):
    error_messages = {"type": NO_TARGETS}
    # BroadcastFields.one_place and proposals.resolve_targets: "all" alone, or some ward or cluster
    OPENAPI = {"oneOf": [
        {"required": ["all"], "maxProperties": 1},
        {"not": {"required": ["all"]}, "anyOf": [{"required": [key], "properties": {key: {"minItems": 1}}}
                                                 for key in ("wards", "groups", "clusters")]}]}

    all = Raw(validate=Exactly(True, error=NO_TARGETS), metadata={"description": "true: the whole district"})
    wards, clusters = ids(), ids()
    groups = group_ids()


# what `stream` accepts, as the document can say it: a scheme, and a host without brackets or spaces
STREAM_PATTERN = (r"^(" + "|".join(sorted(STREAM_SCHEMES)) + r")://[^/?#\[\]\s\x00@]+([/?#][^\x00]*)?$")
# recurrence.parse_times, the digits ASCII
TIME_PATTERN = rf"^[{SPACE}]*([01]?[0-9]|2[0-3])[:hH][0-5][0-9][{SPACE}]*$"
# RFC 3339 (the offset optional: Asia/Ho_Chi_Minh), or "now"; that the time is ahead the service checks
START_PATTERN = (r"^(now|[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]"
                 r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)$")


def in_range(key: str, low: int, high: int) -> str:
    return _("%(field)s phải là một số từ %(low)s đến %(high)s.", field=FIELD_WORDS[key], low=low, high=high)


def stream(value: str) -> None:
    """A live stream's address: http(s), rtsp or rtmp, with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in STREAM_SCHEMES or not parts.netloc:
        raise ma.ValidationError([NO_STREAM])


def broadcast_fields(required: bool) -> dict:
    """A broadcast's fields; `required`: those a new one must have (an edit sends only what changes)."""
    must = {"required": required}
    return {
        "title": text(1, 200, _("Tiêu đề phải dài từ 1 đến 200 ký tự."), **must),
        "kind": choice(ProgrammeKind, message=_("Nội dung phải là bản ghi âm (play) hoặc tiếp sóng một luồng trực "
                                                "tiếp (relay)."), metadata={"default": ProgrammeKind.PLAY.value}),
        # null: none chosen yet (the form's empty choice), refused as such by the service
        "audio_id": whole(1, MAX_ID, message=NO_AUDIO, allow_none=True),
        "items": List(whole(1, MAX_ID, message=NO_AUDIO), allow_none=True,
                      validate=ma.validate.Length(1, MAX_ITEMS, error=ITEMS), error_messages={"invalid": ITEMS},
                      metadata={"description": "clips played back to back, instead of audio_id"}),
        "repeat": whole(1, MAX_REPEAT, message=in_range("repeat", 1, MAX_REPEAT)),
        "gap_s": number(FIELD_WORDS["gap_s"], 0, MAX_GAP_S, as_sent=True),
        "chime": switch(metadata={"description": "attention chime before and after"}),
        "stream_url": text(1, 1024, NO_STREAM, check=stream, metadata={
            "description": "relay: " + ", ".join(sorted(STREAM_SCHEMES)), "pattern": STREAM_PATTERN}),
        "duration_s": whole(*RELAY_SECONDS, message=in_range("duration_s", *RELAY_SECONDS), allow_none=True,
                            metadata={"description": "relay window"}),
        "priority": choice(Priority, message=_("Mức ưu tiên phải là normal (thông thường), priority (ưu tiên) hoặc "
                                               "emergency (khẩn cấp).")),
        "targets": Nested(Targets, error_messages={"required": NO_TARGETS, "null": NO_TARGETS}, **must),
        "start_at": text(1, 64, _("Hãy chọn giờ phát, hoặc chọn phát ngay (start_at: \"now\")."),
                         metadata={"description": "RFC 3339, or \"now\"", "pattern": START_PATTERN}, **must),
        "rrule": text(0, 500, _("Quy tắc lặp lại phải là một dòng như FREQ=DAILY;BYHOUR=5;BYMINUTE=30."),
                      allow_none=True, metadata={"description": "RFC 5545 RRULE, in Asia/Ho_Chi_Minh"}),
        "until": moment(message=BAD_UNTIL, allow_none=True),
        "exdates": List(text(10, 10, EXDATES_SHAPE, metadata={"format": "date"}), allow_none=True,
                        validate=ma.validate.Length(max=MAX_EXDATES, error=EXDATES_SHAPE),
                        error_messages={"invalid": EXDATES_SHAPE},
                        metadata={"description": "local dates skipped (holidays)"}),
        "times": List(text(1, 64, TIMES_SHAPE, metadata={"pattern": TIME_PATTERN}),
                      allow_none=True,
                      validate=ma.validate.Length(max=MAX_PER_DAY, error=TIMES_SHAPE),
                      error_messages={"invalid": TIMES_SHAPE}, metadata={"description": "local times of day, HH:MM"}),
        "draft": switch(metadata={"description": "true: save a draft; false: send for approval (an edit left "
                                                 "without it keeps a draft a draft)"}),
        "override_reason": text(3, 500, _("Lý do bỏ qua quy định phải dài từ 3 đến 500 ký tự."), allow_none=True,
                                metadata={"description": "administrators: set ward rules aside"}),
    }


class BroadcastFields(RequestSchema):
    """What the schema can say of a broadcast's targets as a whole: somewhere, and "all" alone."""

    @ma.validates_schema
    def one_place(self, data, **kwargs):
        if (targets := data.get("targets")) is None:
            return
        if not targets:
            raise ma.ValidationError(NO_TARGETS, "targets")
        if targets.get("all") is True and set(targets) != {"all"}:
            raise ma.ValidationError(_("Đã chọn toàn quận thì không chọn thêm phường hay cụm loa."), "targets")


class BroadcastRequest(BroadcastFields.from_dict(broadcast_fields(required=True))):
    """A new broadcast."""


class BroadcastEdit(BroadcastFields.from_dict(broadcast_fields(required=False))):
    """A change to a broadcast: any of its fields, laid over its current values."""


def count(name: str, high: int) -> ma.fields.Integer:
    return whole(1, high, allow_none=True, message=_("%(key)s phải là số nguyên từ 1 đến %(high)s, hoặc null.",
                                                     key=name, high=high))


def clock_time(name: str, example: str) -> ma.fields.String:
    message = _("%(name)s phải là giờ viết dạng HH:MM, ví dụ 21:30.", name=f"quiet_hours.{name}")
    return text(5, 5, message, metadata={"example": example, "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                required=True)


class QuietHours(RequestSchema):
    start, end = clock_time("start", "21:30"), clock_time("end", "05:00")


class WardRules(RequestSchema):
    """A ward's rules, all of them: a key left out means no such rule."""

    quiet_hours = Nested(QuietHours, allow_none=True, error_messages={
        "type": _('quiet_hours phải là {"start": "HH:MM", "end": "HH:MM"} hoặc null.')})
    max_sessions_per_day, max_session_minutes = count("max_sessions_per_day", 24), count("max_session_minutes", 1440)
    weekdays = List(whole(1, 7), allow_none=True, validate=ma.validate.Length(min=1, error=WEEKDAYS),
                    error_messages={"invalid": WEEKDAYS})
    blackout_dates = List(String(metadata={"format": "date"}), allow_none=True)
    approval_required = switch(allow_none=True, metadata={
        "description": "its officers' broadcasts wait for an approver; left out: unchanged"})


# what fleet_admin takes as a name: one line (no control character once stripped), not opening like a formula
_CC = r"\x00-\x1f\x7f-\x9f"
NAME_PATTERN = (rf"^[{SPACE}]*[^{SPACE}{_CC}" + "".join(re.escape(c) for c in FORMULA_STARTS)
                + rf"]([^{_CC}]*[^{SPACE}{_CC}])?[{SPACE}]*$")


def cluster_fields(**kwargs) -> dict:
    """A cluster's editable fields (fleet_admin.EDITABLE); the service checks what they name."""
    return {
        "name": text(1, 120, _("Tên phải dài 1–120 ký tự, trên một dòng."), metadata={"pattern": NAME_PATTERN},
                     **kwargs),
        "ward": text(1, 64, **kwargs),
        "lat": number("lat", *LAT_RANGE, **kwargs), "lon": number("lon", *LON_RANGE, **kwargs),
        "speakers": whole(*SPEAKERS, message=_("%(key)s phải là một số từ %(low)s đến %(high)s.", key="speakers",
                                               low=SPEAKERS[0], high=SPEAKERS[1]), **kwargs),
    }


class ClusterEdit(RequestSchema.from_dict(cluster_fields())):
    OPENAPI = {"minProperties": 1}  # fleet_admin.edit_cluster: something to change
    retired = Raw(validate=ma.validate.Equal(False, error=_("Ở đây retired chỉ đặt được là false; muốn ngừng sử "
                                                            "dụng cụm loa thì DELETE nó.")),
                  metadata={"const": False, "description": "false brings a retired cluster back"})


class ClusterNew(RequestSchema.from_dict(cluster_fields(required=True))):
    id = text(1, 32, metadata={"pattern": "^[a-z0-9-]{1,32}$"}, required=True)


class TargetsQuery(QuerySchema):
    """The places a broadcast would sound, as a query string: ?wards=a&wards=b&groups=3&clusters=x."""

    all = flag(metadata={"description": "true: the whole district"})
    wards, clusters = ids(), ids()
    groups = group_ids(strict=False)


class GroupsQuery(QuerySchema):
    ward = text(metadata={"description": "a ward id"})


def group_fields(required: bool = False) -> dict:
    return {"name": text(1, 120, _("Tên nhóm phải dài 1–120 ký tự."), required=required),
            "clusters": ids(metadata={"description": "cluster ids, all of the group's ward"})}


class GroupNew(RequestSchema.from_dict(group_fields(required=True))):
    ward = text(1, 64, required=True)


class GroupEdit(RequestSchema.from_dict(group_fields())):
    OPENAPI = {"minProperties": 1}


class WardMerge(RequestSchema):
    class Meta:
        include = {"from": text(1, 64, required=True), "into": text(1, 64, required=True)}


class AudioUpload(RequestSchema):
    file = Raw(required=True, metadata={"type": "string", "format": "binary"})
    title = text(0, 200)
    ward = text(0, 32, metadata={"description": "the ward it belongs to (one of yours); none: your one ward, or the "
                                               "district for a user of the whole district"})


class SpeechReading(RequestSchema):
    text = text(1, MAX_TEXT, TEXT_LENGTH, required=True, metadata={"description": "the announcement, as typed"})


class SpeechPreview(SpeechReading):
    speed = choice(Speed, load_default=Speed.NORMAL, metadata={"description": "how fast the voice reads"})


class SpeechRequest(SpeechPreview):
    title = text(0, 200, metadata={"description": "none: the start of the text"})
    ward = text(0, 32, metadata={"description": "the ward it belongs to (one of yours); none: your one ward, or the "
                                               "district for a user of the whole district"})


class FleetUpload(RequestSchema):
    file = Raw(required=True, metadata={"type": "string", "format": "binary",
                                        "description": "CSV UTF-8: id,name,ward_id,ward_name,lat,lon,speakers"})


class AuditQuery(QuerySchema):
    """The audit page's filters (HTML and CSV)."""

    action = text(0, 48, metadata={"description": "an action, or its family: broadcast is every broadcast.*"})
    actor = text(0, 80)
    ward = text(0, 32)
    since, until = Day(local=True, load_default=None), Day(local=True, load_default=None)
    page = whole(1, 1_000_000, strict=False, load_default=1)


class RunClustersQuery(QuerySchema):
    """A run report's list of clusters: one ward, one state, which page (HTML and its live JSON)."""

    ward = text(0, 32)
    state = choice(DeliveryState, load_default=None)
    page = whole(1, 1_000_000, strict=False, load_default=1)


class MonthQuery(QuerySchema):
    """A report's month in Asia/Ho_Chi_Minh; none or empty: this month."""

    month = Month(load_default=None, metadata={"example": "2026-12", "pattern": r"^(20[0-9]{2}-(0[1-9]|1[0-2]))?$"})


class MonthPageQuery(MonthQuery):
    """The report page's month as the officer types it, mm/yyyy, or YYYY-MM as its links write it."""

    month = Month(local=True, load_default=None)
