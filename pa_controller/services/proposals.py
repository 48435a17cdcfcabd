"""An officer's request for a broadcast, read and checked field by field before anything is stored.

The same reading serves creating, editing and previewing, so the form can show the next runs, conflicts and
guardrail refusals before the officer submits.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Priority, ProgrammeKind
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, Cluster, Ward
from pa_controller.recurrence import Schedule, parse_exdates, parse_times
from pa_controller.services import planning

TARGET_KEYS = {"all", "wards", "clusters"}
MAX_TARGET_IDS = 2000
MAX_ID = 2**31 - 1
MAX_ITEMS = 20
MAX_REPEAT = 10
MAX_GAP_S = 300
RELAY_SECONDS = (60, 4 * 3600)
STREAM_SCHEMES = {"http", "https", "rtsp", "rtmp"}
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
        raise invalid("targets", 'targets must be {"all": true} or any of {"wards": [...], "clusters": [...]}')
    if targets.get("all") is True:
        if set(targets) != {"all"}:
            raise invalid("targets", '"all" cannot be combined with wards or clusters')
        return list(db.session.scalars(select(Cluster).where(Cluster.retired.is_(False)).order_by(Cluster.id)))
    chosen: dict[str, Cluster] = {}
    for key, model, column in (("wards", Ward, Cluster.ward_id), ("clusters", Cluster, Cluster.id)):
        ids = targets.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) and "\x00" not in i for i in ids):
            raise invalid("targets", f"targets.{key} must be a list of ids")
        if len(ids) > MAX_TARGET_IDS:
            raise invalid("targets", f"targets.{key} names more than {MAX_TARGET_IDS} ids; target wards instead")
        if not ids:
            continue
        known = set(db.session.scalars(select(model.id).where(model.id.in_(ids))))
        if unknown := sorted(set(ids) - known):
            raise invalid("targets", f"unknown {key}: {', '.join(unknown[:10])}")
        for cluster in db.session.scalars(select(Cluster).where(column.in_(ids), Cluster.retired.is_(False))):
            chosen[cluster.id] = cluster
    if not chosen:
        raise invalid("targets", "the targets name no cluster in service")
    return sorted(chosen.values(), key=lambda c: c.id)


def _number(data: dict, key: str, low: int, high: int, default=None, *, whole: bool = True):
    value = data.get(key, default)
    if value is None:
        return None
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise invalid(key, f"{key} must be a {'whole ' if whole else ''}number from {low} to {high}")
    return value


def _audio(audio_id) -> Audio:
    valid_id = isinstance(audio_id, int) and not isinstance(audio_id, bool) and 1 <= audio_id <= MAX_ID
    audio = db.session.get(Audio, audio_id) if valid_id else None
    if audio is None:
        raise invalid("audio_id", f"audio {audio_id!r} is not an uploaded clip (POST /api/v1/audio)")
    return audio


def _programme(data: dict) -> Programme:
    try:
        kind = ProgrammeKind(data.get("kind", ProgrammeKind.PLAY.value))
    except ValueError:
        raise invalid("kind", "kind must be play (recorded audio) or relay (a live stream)") from None
    if kind is ProgrammeKind.RELAY:
        url = data.get("stream_url")
        try:
            parts = urlsplit(url) if isinstance(url, str) and len(url) <= 1024 and "\x00" not in url else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if parts is None or parts.scheme not in STREAM_SCHEMES or not parts.netloc:
            raise invalid("stream_url", "stream_url must be an http(s), rtsp or rtmp address of a live stream")
        seconds = _number(data, "duration_s", *RELAY_SECONDS)
        if seconds is None:
            raise invalid("duration_s", "a relay needs duration_s: how long to carry the stream, in seconds")
        return Programme(kind, stream_url=url, relay_ms=int(seconds * 1000))
    ids = data.get("items")
    if ids is None:
        ids = [data.get("audio_id")]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_ITEMS:
        raise invalid("items", f"items must list 1 to {MAX_ITEMS} clip ids, played back to back")
    chime = data.get("chime", False)
    if not isinstance(chime, bool):
        raise invalid("chime", "chime must be true or false")
    return Programme(kind, items=tuple(_audio(i) for i in ids), repeat=_number(data, "repeat", 1, MAX_REPEAT, 1),
                     gap_s=_number(data, "gap_s", 0, MAX_GAP_S, 0, whole=False), chime=chime)


def _start(value, now: datetime) -> tuple[datetime, bool]:
    if value == "now":  # for checking; the start is chosen again once the audio is ready (broadcasts._save)
        return now + planning.now_lead(now), True
    if not isinstance(value, str):
        raise invalid("start_at", 'start_at must be an RFC 3339 time or "now"')
    try:
        return clock.parse_local(value.replace("\x00", "?")), False
    except ValueError:
        raise invalid("start_at", f"start_at {value!r} is not an RFC 3339 time") from None


def _schedule(data: dict, now: datetime) -> tuple[Schedule, bool]:
    start_at, immediate = _start(data.get("start_at"), now)
    rule = data.get("rrule") or None
    if rule is not None and (not isinstance(rule, str) or "\x00" in rule or len(rule) > 500):
        raise invalid("rrule", "rrule must be a rule such as FREQ=DAILY;BYHOUR=5;BYMINUTE=30")
    until = None
    if data.get("until") is not None:
        try:
            until = clock.parse_local(str(data["until"]).replace("\x00", "?"))
        except ValueError:
            raise invalid("until", "until is not an RFC 3339 time") from None
        if until < start_at:
            raise invalid("until", "until is before start_at")
    times = parse_times(data.get("times"))
    return Schedule(start_at, rule, until, parse_exdates(data.get("exdates")), times), immediate


def _override(data: dict) -> str | None:
    reason = data.get("override_reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500 or "\x00" in reason:
        raise invalid("override_reason", "override_reason must say in 3–500 characters why the rules are set aside")
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
        raise ValidationFailed("the body must be a JSON object")
    if editing is not None:
        current = current_values(editing)
        if "audio_id" in data and "items" not in data:
            current.pop("items", None)  # a new single clip replaces the old sequence
        data = {**current, **{k: v for k, v in data.items() if k in EDITABLE or k == "override_reason"}}
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200 or "\x00" in title:
        raise invalid("title", "title must be 1–200 characters")
    try:
        priority = Priority(data.get("priority", Priority.NORMAL.value))
    except ValueError:
        raise invalid("priority", "priority must be normal, priority or emergency") from None
    programme = _programme(data)
    duration_ms = estimated_ms(programme, chime_ms)
    if programme.composed and duration_ms > current_app.config["COMPOSE_MAX_SECONDS"] * 1000:
        raise invalid("items", f"the programme would last {duration_ms // 60000} min; at most "
                               f"{current_app.config['COMPOSE_MAX_SECONDS'] / 60:.0f} min can be composed")
    clusters = resolve_targets(data.get("targets"))
    schedule, immediate = _schedule(data, now)
    # An edit may keep a start in the past (the anchor of a rule already running), not move one there.
    kept = editing is not None and abs(schedule.start_at - editing.start_at) < timedelta(seconds=1)
    if not immediate and schedule.start_at < now and not kept:
        raise invalid("start_at", 'start_at is in the past; choose a later time or "now"')
    if not schedule.next(now, 1):
        raise invalid("rrule", "this schedule has no occurrence from now on")
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
