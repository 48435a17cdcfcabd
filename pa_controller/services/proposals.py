"""An officer's request for a broadcast, read and checked field by field before anything is stored.

The same reading serves creating, editing and previewing, so the form can show the next runs, conflicts and
guardrail refusals before the officer submits.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock, settings
from pa_controller.domain import ProgrammeKind
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, Cluster, Ward
from pa_controller.recurrence import Schedule, parse_exdates, parse_times
from pa_controller.services import planning
from pa_protocol import Priority

TARGET_KEYS = {"all", "wards", "clusters"}
MAX_TARGET_IDS = 2000
MAX_ID = 2**31 - 1
MAX_ITEMS = 20
MAX_REPEAT = 10
MAX_GAP_S = 300
RELAY_SECONDS = (60, 4 * 3600)
STREAM_SCHEMES = {"http", "https", "rtsp", "rtmp"}
TARGET_WORDS = {"wards": _("phường"), "clusters": _("cụm loa")}
FIELD_WORDS = {"repeat": _("Số lần phát lặp"), "gap_s": _("Khoảng cách giữa các lần lặp (giây)"),
               "duration_s": _("Thời lượng tiếp sóng (giây)")}
NO_START = _("Hãy chọn giờ phát, hoặc chọn phát ngay (start_at: \"now\").")
EDITABLE = ("title", "kind", "audio_id", "items", "repeat", "gap_s", "chime", "stream_url", "duration_s",
            "priority", "targets", "start_at", "rrule", "until", "exdates", "times")


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: message})


@dataclass(frozen=True)
class Programme:
    """What a run plays: clips back to back, repeated with a gap, between chimes; or a live stream."""

    kind: ProgrammeKind
    items: tuple[Audio, ...] = ()
    repeat: int = 1
    gap_s: float = 0
    chime: bool = False
    stream_url: str | None = None
    relay_ms: int = 0

    @property
    def composed(self) -> bool:
        """True when the clips must be joined into one file before clusters can play it."""
        return len(self.items) > 1 or self.repeat > 1 or self.chime

    def describe(self) -> dict | None:
        if self.kind is ProgrammeKind.RELAY:
            return None
        return {"items": [a.id for a in self.items], "repeat": self.repeat, "gap_s": self.gap_s, "chime": self.chime}


@dataclass(frozen=True)
class Proposal:
    title: str
    priority: Priority
    programme: Programme
    targets: dict
    clusters: tuple[Cluster, ...]
    named_wards: frozenset[str]  # every ward the targets name, also through clusters now retired or moved
    schedule: Schedule
    immediate: bool
    duration_ms: int  # how long one run sounds; for a composed programme, an estimate until it is built
    override_reason: str | None

    @property
    def ward_ids(self) -> set[str]:
        """The wards this broadcast concerns: those whose rights it needs, whose rules it must keep."""
        return set(self.named_wards) | {c.ward_id for c in self.clusters}

    @property
    def cluster_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.clusters)

    def starting_at(self, start_at: datetime) -> "Proposal":
        return replace(self, schedule=replace(self.schedule, start_at=start_at))


def named_wards(targets: dict) -> frozenset[str]:
    """The wards a (valid) target description names, whatever is in service there today.

    Rights are checked on these, not only on today's clusters: a ward with no cluster in service now may get
    one tomorrow, and dispatch resolves the targets again.
    """
    if targets.get("all") is True:
        return frozenset(db.session.scalars(select(Ward.id)))
    named = set(targets.get("wards", []))
    if ids := targets.get("clusters"):
        named |= set(db.session.scalars(select(Cluster.ward_id).where(Cluster.id.in_(ids))))
    return frozenset(named)


def resolve_targets(targets) -> list[Cluster]:
    """Return the clusters in service that a target description names, or raise ValidationFailed."""
    if not isinstance(targets, dict) or not targets or set(targets) - TARGET_KEYS:
        raise invalid("targets", _("Hãy chọn nơi phát: toàn quận, hoặc ít nhất một phường hay cụm loa "
                                   '(API: {"all": true} hoặc {"wards": [...], "clusters": [...]}).'))
    if targets.get("all") is True:
        if set(targets) != {"all"}:
            raise invalid("targets", _("Đã chọn toàn quận thì không chọn thêm phường hay cụm loa."))
        return list(db.session.scalars(select(Cluster).where(Cluster.retired.is_(False)).order_by(Cluster.id)))
    chosen: dict[str, Cluster] = {}
    for key, model, column in (("wards", Ward, Cluster.ward_id), ("clusters", Cluster, Cluster.id)):
        ids = targets.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) and "\x00" not in i for i in ids):
            raise invalid("targets", _("targets.%(key)s phải là một danh sách mã.", key=key))
        if len(ids) > MAX_TARGET_IDS:
            raise invalid("targets", _("targets.%(key)s có hơn %(n)s mã; hãy chọn theo phường.", key=key,
                                       n=MAX_TARGET_IDS))
        if not ids:
            continue
        known = set(db.session.scalars(select(model.id).where(model.id.in_(ids))))
        if unknown := sorted(set(ids) - known):
            raise invalid("targets", _("Không có %(what)s nào mang mã: %(ids)s.", what=TARGET_WORDS[key],
                                       ids=", ".join(unknown[:10])))
        for cluster in db.session.scalars(select(Cluster).where(column.in_(ids), Cluster.retired.is_(False))):
            chosen[cluster.id] = cluster
    if not chosen:
        raise invalid("targets", _("Nơi đã chọn không còn cụm loa nào đang hoạt động."))
    return sorted(chosen.values(), key=lambda c: c.id)


def _number(data: dict, key: str, low: int, high: int, default=None, *, whole: bool = True):
    value = data.get(key, default)
    if value is None:
        return None
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise invalid(key, _("%(field)s phải là một số từ %(low)s đến %(high)s.", field=FIELD_WORDS.get(key, key),
                             low=low, high=high))
    return value


def _audio(audio_id) -> Audio:
    valid_id = isinstance(audio_id, int) and not isinstance(audio_id, bool) and 1 <= audio_id <= MAX_ID
    audio = db.session.get(Audio, audio_id) if valid_id else None
    if audio is None:
        raise invalid("audio_id", _("Hãy chọn một bản ghi âm trong thư viện (hoặc tải lên trước, POST /api/v1/audio)."))
    return audio


def _programme(data: dict) -> Programme:
    try:
        kind = ProgrammeKind(data.get("kind", ProgrammeKind.PLAY.value))
    except ValueError:
        raise invalid("kind", _("Nội dung phải là bản ghi âm (play) hoặc tiếp sóng một luồng trực tiếp "
                                "(relay).")) from None
    if kind is ProgrammeKind.RELAY:
        url = data.get("stream_url")
        try:
            parts = urlsplit(url) if isinstance(url, str) and len(url) <= 1024 and "\x00" not in url else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if parts is None or parts.scheme not in STREAM_SCHEMES or not parts.netloc:
            raise invalid("stream_url", _("Địa chỉ luồng phải là một địa chỉ http(s), rtsp hoặc rtmp của luồng "
                                          "trực tiếp."))
        seconds = _number(data, "duration_s", *RELAY_SECONDS)
        if seconds is None:
            raise invalid("duration_s", _("Hãy ghi thời lượng tiếp sóng (duration_s, tính bằng giây)."))
        return Programme(kind, stream_url=url, relay_ms=int(seconds * 1000))
    ids = data.get("items")
    if ids is None:
        ids = [data.get("audio_id")]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_ITEMS:
        raise invalid("items", _("Chương trình gồm từ 1 đến %(n)s bản ghi, phát nối tiếp.", n=MAX_ITEMS))
    chime = data.get("chime", False)
    if not isinstance(chime, bool):
        raise invalid("chime", _("chime phải là true hoặc false."))
    return Programme(kind, items=tuple(_audio(i) for i in ids), repeat=_number(data, "repeat", 1, MAX_REPEAT, 1),
                     gap_s=_number(data, "gap_s", 0, MAX_GAP_S, 0, whole=False), chime=chime)


def _start(value, now: datetime) -> tuple[datetime, bool]:
    if value == "now":  # for checking; the start is chosen again once the audio is ready (broadcasts._save)
        return now + planning.now_lead(now), True
    if not isinstance(value, str):
        raise invalid("start_at", NO_START)
    try:
        return clock.parse_local(value.replace("\x00", "?")), False
    except ValueError:
        raise invalid("start_at", NO_START if not value.strip() else _(
            "“%(value)s” không phải một thời điểm; hãy ghi ngày giờ như 2027-01-05T05:30.", value=value[:40])) from None


def _schedule(data: dict, now: datetime) -> tuple[Schedule, bool]:
    start_at, immediate = _start(data.get("start_at"), now)
    rule = data.get("rrule") or None
    if rule is not None and (not isinstance(rule, str) or "\x00" in rule or len(rule) > 500):
        raise invalid("rrule", _("Quy tắc lặp lại phải là một dòng như FREQ=DAILY;BYHOUR=5;BYMINUTE=30."))
    until = None
    if data.get("until") is not None:
        try:
            until = clock.parse_local(str(data["until"]).replace("\x00", "?"))
        except ValueError:
            raise invalid("until", _("Ngày kết thúc (until) không phải một thời điểm; ví dụ "
                                     "2027-06-30T23:59.")) from None
        if until < start_at:
            raise invalid("until", _("Ngày kết thúc ở trước ngày bắt đầu."))
    times = parse_times(data.get("times"))
    return Schedule(start_at, rule, until, parse_exdates(data.get("exdates")), times), immediate


def _override(data: dict) -> str | None:
    reason = data.get("override_reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500 or "\x00" in reason:
        raise invalid("override_reason", _("Lý do bỏ qua quy định phải dài từ 3 đến 500 ký tự."))
    return reason.strip()


def estimated_ms(programme: Programme, chime_ms: int) -> int:
    """How long a programme sounds: exact for a single clip or a relay, the sum of its parts otherwise."""
    if programme.kind is ProgrammeKind.RELAY:
        return programme.relay_ms
    once = sum(a.duration_ms for a in programme.items)
    gaps = int(programme.gap_s * 1000) * (programme.repeat - 1)
    return once * programme.repeat + gaps + (2 * chime_ms if programme.chime else 0)


def read(data, now: datetime, *, chime_ms: int, editing: Broadcast | None = None) -> Proposal:
    """Read a request body (for an edit: laid over the broadcast's current values), or raise ValidationFailed."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("Nội dung yêu cầu phải là một đối tượng JSON."))
    if editing is not None:
        current = current_values(editing)
        if "audio_id" in data and "items" not in data:
            current.pop("items", None)  # a new single clip replaces the old sequence
        data = {**current, **{k: v for k, v in data.items() if k in EDITABLE or k == "override_reason"}}
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200 or "\x00" in title:
        raise invalid("title", _("Tiêu đề phải dài từ 1 đến 200 ký tự."))
    try:
        priority = Priority(data.get("priority", Priority.NORMAL.value))
    except ValueError:
        raise invalid("priority", _("Mức ưu tiên phải là normal (thông thường), priority (ưu tiên) hoặc emergency "
                                    "(khẩn cấp).")) from None
    programme = _programme(data)
    duration_ms = estimated_ms(programme, chime_ms)
    if programme.composed and duration_ms > settings.current().compose_max_seconds * 1000:
        raise invalid("items", _("Chương trình sẽ dài %(n)s phút; chỉ ghép được tối đa %(limit)s phút. Hãy bớt số "
                                 "lần lặp hoặc số bản ghi.", n=duration_ms // 60000,
                                 limit=round(settings.current().compose_max_seconds / 60)))
    clusters = resolve_targets(data.get("targets"))
    schedule, immediate = _schedule(data, now)
    # An edit may keep a start in the past (the anchor of a rule already running), not move one there.
    kept = editing is not None and abs(schedule.start_at - editing.start_at) < timedelta(seconds=1)
    if not immediate and schedule.start_at < now and not kept:
        raise invalid("start_at", _("Giờ phát đã qua; hãy chọn giờ muộn hơn hoặc phát ngay."))
    if not schedule.next(now, 1):
        raise invalid("rrule", _("Lịch này không còn lượt phát nào từ bây giờ; hãy xem lại ngày kết thúc và quy tắc "
                                 "lặp lại."))
    return Proposal(title=title.strip(), priority=priority, programme=programme, targets=data["targets"],
                    clusters=tuple(clusters), named_wards=named_wards(data["targets"]), schedule=schedule,
                    immediate=immediate, duration_ms=duration_ms, override_reason=_override(data))


def current_values(broadcast: Broadcast) -> dict:
    """A broadcast's fields as a request body, so an edit need only send what changes."""
    values = {
        "title": broadcast.title, "kind": broadcast.kind.value, "priority": broadcast.priority.value,
        "targets": broadcast.targets, "start_at": broadcast.start_at.isoformat(), "rrule": broadcast.rrule,
        "until": broadcast.until.isoformat() if broadcast.until else None, "exdates": broadcast.exdates,
        "times": broadcast.times,
    }
    if broadcast.kind is ProgrammeKind.RELAY:
        return {**values, "stream_url": broadcast.stream_url, "duration_s": broadcast.duration_ms // 1000}
    return {**values, **(broadcast.programme or {"items": [broadcast.audio_id]})}
