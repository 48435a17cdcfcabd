"""An officer's request for a broadcast, checked for what it means before anything is stored.

The API's schema (web/schemas/requests.py: BroadcastRequest, BroadcastEdit) has already given every field its
type and range, for the API and the form alike; this reads what the values mean: the audio exists, the targets
exist and have clusters in service, the schedule parses and has runs ahead. The same reading serves creating,
editing and previewing, so the form can show the next runs, conflicts and guardrail refusals before the officer
submits.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock, settings
from pa_controller.domain import ProgrammeKind
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, Cluster, Group, Ward, group_cluster
from pa_controller.recurrence import Schedule, parse_exdates, parse_times
from pa_controller.services import planning
from pa_protocol import Priority

MAX_TARGET_IDS = 2000
MAX_ID = 2**31 - 1
MAX_ITEMS = 20
MAX_REPEAT = 10
MAX_GAP_S = 300
RELAY_SECONDS = (60, 4 * 3600)
STREAM_SCHEMES = {"http", "https", "rtsp", "rtmp"}
TARGET_WORDS = {"wards": _("phường"), "groups": _("nhóm cụm loa"), "clusters": _("cụm loa")}
NO_AUDIO = _("Hãy chọn một bản ghi âm trong thư viện (hoặc tải lên trước, POST /api/v1/audio).")
NO_STREAM = _("Địa chỉ luồng phải là một địa chỉ http(s), rtsp hoặc rtmp của luồng trực tiếp.")
BAD_UNTIL = _("Ngày kết thúc (until) không phải một thời điểm; ví dụ 2027-06-30T23:59.")


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
    if ids := targets.get("groups"):
        named |= set(db.session.scalars(select(Group.ward_id).where(Group.id.in_(ids))))
    if ids := targets.get("clusters"):
        named |= set(db.session.scalars(select(Cluster.ward_id).where(Cluster.id.in_(ids))))
    return frozenset(named)


# How each kind of target reaches clusters: a group, its members still in its ward (services/groups.py).
IN_GROUPS = select(group_cluster.c.cluster_id).join(Group, Group.id == group_cluster.c.group_id).where(
    Cluster.id == group_cluster.c.cluster_id, Cluster.ward_id == Group.ward_id)
TARGET_KINDS = (("wards", Ward, lambda ids: Cluster.ward_id.in_(ids)),
                ("groups", Group, lambda ids: Cluster.id.in_(IN_GROUPS.where(Group.id.in_(ids)))),
                ("clusters", Cluster, lambda ids: Cluster.id.in_(ids)))


def chosen_clusters(targets: dict) -> list[Cluster]:
    """Return the clusters in service that a target description names, none if so; refuse ids that do not exist."""
    if targets.get("all") is True:
        return list(db.session.scalars(select(Cluster).where(Cluster.retired.is_(False)).order_by(Cluster.id)))
    chosen: dict[str, Cluster] = {}
    for key, model, reaches in TARGET_KINDS:
        ids = targets.get(key, [])
        if not ids:
            continue
        _refuse_unknown(key, ids, set(db.session.scalars(select(model.id).where(model.id.in_(ids)))))
        for cluster in db.session.scalars(select(Cluster).where(reaches(ids), Cluster.retired.is_(False))):
            chosen[cluster.id] = cluster
    return sorted(chosen.values(), key=lambda c: c.id)


def refuse_unseen(targets: dict, scope: set[str] | None) -> None:
    """Refuse groups and clusters of wards outside `scope` (None: the district) exactly as ids that name nothing:
    what another ward has is not for a reader to learn by guessing. (Wards are public: naming another ward is
    refused for want of rights.)"""
    if scope is None:
        return
    for key, model, _reaches in TARGET_KINDS:
        if model is not Ward and (ids := targets.get(key)):
            _refuse_unknown(key, ids, set(db.session.scalars(select(model.id).where(model.id.in_(ids),
                                                                                     model.ward_id.in_(scope)))))


def _refuse_unknown(key: str, ids, known: set) -> None:
    if unknown := sorted({str(i) for i in set(ids) - known}):
        raise invalid("targets", _("Không có %(what)s nào mang mã: %(ids)s.", what=TARGET_WORDS[key],
                                   ids=", ".join(unknown[:10])))


def resolve_targets(targets: dict) -> list[Cluster]:
    """Return the clusters in service that a target description (shaped by the schema's Targets) names.

    Raise ValidationFailed when it names wards or clusters that do not exist, or no cluster in service.
    """
    if not (chosen := chosen_clusters(targets)):
        raise invalid("targets", _("Nơi đã chọn không còn cụm loa nào đang hoạt động."))
    return chosen


def _audio(audio_id: int | None, may_use: Callable[[Audio], bool]) -> Audio:
    """The clip an id names, if the user may use it; one they may not (another ward's) is refused like one that
    does not exist, before anything of it (its length) can show in an answer."""
    audio = db.session.get(Audio, audio_id) if audio_id is not None else None
    if audio is None or not may_use(audio):
        raise invalid("audio_id", NO_AUDIO)
    return audio


def _programme(data: dict, may_use: Callable[[Audio], bool]) -> Programme:
    kind = ProgrammeKind(data.get("kind", ProgrammeKind.PLAY))
    if kind is ProgrammeKind.RELAY:  # a relay needs its stream and window, also when an edit turns a clip into one
        if (url := data.get("stream_url")) is None:
            raise invalid("stream_url", NO_STREAM)
        if (seconds := data.get("duration_s")) is None:
            raise invalid("duration_s", _("Hãy ghi thời lượng tiếp sóng (duration_s, tính bằng giây)."))
        return Programme(kind, stream_url=url, relay_ms=int(seconds * 1000))
    ids = data.get("items")
    if ids is None:
        ids = [data.get("audio_id")]
    return Programme(kind, items=tuple(_audio(i, may_use) for i in ids), repeat=data.get("repeat", 1),
                     gap_s=data.get("gap_s", 0), chime=data.get("chime", False))


def _start(value: str, now: datetime) -> tuple[datetime, bool]:
    if value == "now":  # for checking; the start is chosen again once the audio is ready (broadcasts._save)
        return now + planning.now_lead(now), True
    try:
        return clock.parse_local(value), False
    except ValueError:
        raise invalid("start_at", _("“%(value)s” không phải một thời điểm; hãy ghi ngày giờ như 2027-01-05T05:30.",
                                    value=value[:40])) from None


def _schedule(data: dict, now: datetime) -> tuple[Schedule, bool]:
    start_at, immediate = _start(data["start_at"], now)
    rule = data.get("rrule") or None
    until = None
    if data.get("until") is not None:
        try:
            until = clock.parse_local(data["until"])
        except ValueError:
            raise invalid("until", BAD_UNTIL) from None
        if until < start_at:
            raise invalid("until", _("Ngày kết thúc ở trước ngày bắt đầu."))
    times = parse_times(data.get("times"))
    return Schedule(start_at, rule, until, parse_exdates(data.get("exdates")), times), immediate


def estimated_ms(programme: Programme, chime_ms: int) -> int:
    """How long a programme sounds: exact for a single clip or a relay, the sum of its parts otherwise."""
    if programme.kind is ProgrammeKind.RELAY:
        return programme.relay_ms
    once = sum(a.duration_ms for a in programme.items)
    gaps = int(programme.gap_s * 1000) * (programme.repeat - 1)
    return once * programme.repeat + gaps + (2 * chime_ms if programme.chime else 0)


def read(data: dict, now: datetime, *, chime_ms: int, may_use: Callable[[Audio], bool], scope: set[str] | None,
         editing: Broadcast | None = None) -> Proposal:
    """Read a request body the API's schema has loaded, or raise ValidationFailed.

    A new broadcast's body is a BroadcastRequest; an edit's is a BroadcastEdit (any of the fields), laid here over
    the broadcast's current values. `scope`: the wards whose groups and clusters the reader may name (None: all).
    """
    if editing is not None:
        current = current_values(editing)
        if "audio_id" in data and "items" not in data:
            current.pop("items", None)  # a new single clip replaces the old sequence
        data = {**current, **data}
    priority = Priority(data.get("priority", Priority.NORMAL))
    programme = _programme(data, may_use)
    duration_ms = estimated_ms(programme, chime_ms)
    if programme.composed and duration_ms > settings.current().compose_max_seconds * 1000:
        raise invalid("items", _("Chương trình sẽ dài %(n)s phút; chỉ ghép được tối đa %(limit)s phút. Hãy bớt số "
                                 "lần lặp hoặc số bản ghi.", n=duration_ms // 60000,
                                 limit=round(settings.current().compose_max_seconds / 60)))
    refuse_unseen(data["targets"], scope)
    clusters = resolve_targets(data["targets"])
    schedule, immediate = _schedule(data, now)
    # An edit may keep a start in the past (the anchor of a rule already running), not move one there.
    kept = editing is not None and abs(schedule.start_at - editing.start_at) < timedelta(seconds=1)
    if not immediate and schedule.start_at < now and not kept:
        raise invalid("start_at", _("Giờ phát đã qua; hãy chọn giờ muộn hơn hoặc phát ngay."))
    if not schedule.next(now, 1):
        raise invalid("rrule", _("Lịch này không còn lượt phát nào từ bây giờ; hãy xem lại ngày kết thúc và quy tắc "
                                 "lặp lại."))
    reason = data.get("override_reason")
    return Proposal(title=data["title"].strip(), priority=priority, programme=programme, targets=data["targets"],
                    clusters=tuple(clusters), named_wards=named_wards(data["targets"]), schedule=schedule,
                    immediate=immediate, duration_ms=duration_ms,
                    override_reason=reason.strip() if reason is not None else None)


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
