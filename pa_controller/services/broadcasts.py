"""Create, plan and cancel broadcasts: the rules an officer's request must satisfy."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from pa_controller import clock
from pa_controller.domain import Priority, RunState
from pa_controller.errors import NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, BroadcastWard, Cluster, Run, User, Ward
from pa_controller.services import access, recurrence
from pa_controller.services.commands import queue_cancel

TARGET_KEYS = {"all", "wards", "clusters"}
MAX_TARGET_IDS = 2000
MAX_ID = 2**31 - 1


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: message})


def resolve_targets(targets) -> list[Cluster]:
    """Return the clusters in service that a target description names, or raise ValidationFailed."""
    if not isinstance(targets, dict) or not targets or set(targets) - TARGET_KEYS:
        raise _invalid("targets", 'targets must be {"all": true} or any of {"wards": [...], "clusters": [...]}')
    if targets.get("all") is True:
        if set(targets) != {"all"}:
            raise _invalid("targets", '"all" cannot be combined with wards or clusters')
        return list(db.session.scalars(select(Cluster).where(Cluster.retired.is_(False))))
    chosen: dict[str, Cluster] = {}
    for key, model, column in (("wards", Ward, Cluster.ward_id), ("clusters", Cluster, Cluster.id)):
        ids = targets.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) and "\x00" not in i for i in ids):
            raise _invalid("targets", f"targets.{key} must be a list of ids")
        if len(ids) > MAX_TARGET_IDS:
            raise _invalid("targets", f"targets.{key} names more than {MAX_TARGET_IDS} ids; target wards instead")
        if not ids:
            continue
        known = set(db.session.scalars(select(model.id).where(model.id.in_(ids))))
        if unknown := sorted(set(ids) - known):
            raise _invalid("targets", f"unknown {key}: {', '.join(unknown[:10])}")
        for cluster in db.session.scalars(select(Cluster).where(column.in_(ids), Cluster.retired.is_(False))):
            chosen[cluster.id] = cluster
    if not chosen:
        raise _invalid("targets", "the targets name no cluster in service")
    return sorted(chosen.values(), key=lambda c: c.id)


def _parse_start(value, now: datetime) -> tuple[datetime, bool]:
    if value == "now":
        return now + timedelta(seconds=current_app.config["NOW_LEAD_S"]), True
    if not isinstance(value, str):
        raise _invalid("start_at", 'start_at must be an RFC 3339 time or "now"')
    try:
        start_at = clock.parse_local(value.replace("\x00", "?"))
    except ValueError:
        raise _invalid("start_at", f"start_at {value!r} is not an RFC 3339 time") from None
    return start_at, False


def create_broadcast(user: User, data: dict) -> tuple[Broadcast, list[datetime]]:
    """Validate an officer's request, store the broadcast and plan its first runs."""
    access.require_role(user, *access.SCHEDULERS)
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object")
    now = clock.now()
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200 or "\x00" in title:
        raise _invalid("title", "title must be 1–200 characters")
    audio_id = data.get("audio_id")
    valid_id = isinstance(audio_id, int) and not isinstance(audio_id, bool) and 1 <= audio_id <= MAX_ID
    audio = db.session.get(Audio, audio_id) if valid_id else None
    if audio is None:
        raise _invalid("audio_id", "audio_id must name an uploaded clip (POST /api/v1/audio)")
    try:
        priority = Priority(data.get("priority", Priority.NORMAL.value))
    except ValueError:
        raise _invalid("priority", "priority must be normal, priority or emergency") from None
    clusters = resolve_targets(data.get("targets"))
    access.require_wards(user, {c.ward_id for c in clusters})
    start_at, immediate = _parse_start(data.get("start_at"), now)
    if not immediate and start_at < now:
        raise _invalid("start_at", "start_at is in the past; choose a later time or \"now\"")
    rule = data.get("rrule")
    if rule is not None and (not isinstance(rule, str) or "\x00" in rule):
        raise _invalid("rrule", "rrule must be a string such as FREQ=DAILY;BYHOUR=5;BYMINUTE=30")
    until = None
    if data.get("until") is not None:
        try:
            until = clock.parse_local(str(data["until"]))
        except ValueError:
            raise _invalid("until", "until is not an RFC 3339 time") from None
        if until < start_at:
            raise _invalid("until", "until is before start_at")
    if rule:
        recurrence.parse_rule(rule, start_at)
    upcoming = recurrence.next_occurrences(start_at, rule or None, until, now)
    if not upcoming:
        raise _invalid("rrule", "this schedule has no occurrence from now on")

    broadcast = Broadcast(
        title=title.strip(), audio=audio, priority=priority, targets=data["targets"], start_at=start_at,
        rrule=rule or None, until=until, created_by=user.id, created_at=now,
        wards=[BroadcastWard(ward_id=w) for w in sorted({c.ward_id for c in clusters})],
    )
    db.session.add(broadcast)
    plan_runs(broadcast, now, immediate=immediate)
    db.session.commit()
    return broadcast, upcoming


def plan_runs(broadcast: Broadcast, now: datetime, *, immediate: bool = False) -> int:
    """Create the runs due within the planning horizon that do not exist yet; return how many."""
    config = current_app.config
    horizon = now + timedelta(hours=config["PLAN_HORIZON_H"])
    after = broadcast.planned_until or now
    lead = timedelta(seconds=config["DISPATCH_LEAD_S"])
    window = timedelta(milliseconds=broadcast.audio.duration_ms, seconds=config["RUN_SETTLE_S"])
    created = 0
    existing = {r.start_at for r in broadcast.runs} if broadcast.id else set()
    for start_at in recurrence.occurrences(broadcast.start_at, broadcast.rrule, broadcast.until, after, horizon):
        if start_at in existing:
            continue
        # "now" makes the first occurrence go at once; later ones keep the usual lead.
        dispatch_at = now if immediate and not created else max(now, start_at - lead)
        broadcast.runs.append(Run(start_at=start_at, dispatch_at=dispatch_at, closes_at=start_at + window))
        created += 1
    broadcast.planned_until = horizon
    return created


def get_broadcast(user: User, broadcast_id: int) -> Broadcast:
    """Return a broadcast the user may see."""
    broadcast = db.session.get(Broadcast, broadcast_id) if 1 <= broadcast_id <= MAX_ID else None
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id} does not exist")
    access.require_wards(user, {w.ward_id for w in broadcast.wards})
    return broadcast


def cancel_broadcast(user: User, broadcast_id: int) -> Broadcast:
    """Cancel future runs and stop any run now under way."""
    access.require_role(user, *access.SCHEDULERS)
    broadcast = get_broadcast(user, broadcast_id)
    now = clock.now()
    if broadcast.cancelled_at is None:
        broadcast.cancelled_at = now
        db.session.execute(
            update(Run)
            .where(Run.broadcast_id == broadcast.id, Run.state == RunState.SCHEDULED)
            .values(state=RunState.CANCELLED, reason="broadcast cancelled")
        )
        for run in db.session.scalars(
            select(Run).where(Run.broadcast_id == broadcast.id, Run.state == RunState.DISPATCHED)
        ):
            queue_cancel(run, now)
        db.session.commit()
    return broadcast
