"""Create, edit, preview, plan and cancel broadcasts: the rules an officer's request must satisfy."""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from pa_controller import clock, settings
from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import ApprovalState, ProgrammeKind, Role
from pa_controller.errors import Conflict, Forbidden, NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, BroadcastWard, Run, User, Ward
from pa_controller.services import (
    access,
    approval_rules,
    audit,
    dispatch,
    guardrails,
    media,
    planning,
    proposals,
    reach,
    timetable,
)
from pa_controller.services.commands import queue_cancel
from pa_controller.services.proposals import MAX_ID, Proposal
from pa_protocol import RunState

log = logging.getLogger(__name__)
PREVIEW_RUNS = 5
COPY_LEAD = timedelta(minutes=10)  # a copy's first run leaves the officer time to look the form over
RUN_STATE_WORDS = {RunState.FINISHED: _("đã kết thúc"), RunState.CANCELLED: _("đã hủy"), RunState.MISSED: _("bị lỡ")}


@dataclass
class Review:
    """What saving a proposal would mean: its next runs, how far it reaches, and what stands in its way."""

    next_runs: list[datetime]
    conflicts: list[dict]
    violations: list[dict]
    reach: reach.Reach
    checked_until: datetime | None  # runs from here on were not checked; None: the whole series was


def _review(proposal: Proposal, now: datetime, exclude_id: int | None) -> Review:
    """Check the proposal's runs against the timetable: all of them when the series ends within CHECK_HORIZON_D
    days of its first run, else those up to there (the answer says where the check stopped)."""
    first = proposal.schedule.next(now, 1)
    before = max([now, *first]) + timedelta(days=settings.current().check_horizon_d)
    unchecked = proposal.schedule.next(before, 1)
    # Others count from the start of today (sessions a day) or from as far back as a run still under way began.
    today = datetime.combine(now.astimezone(LOCAL_ZONE).date(), time(0), LOCAL_ZONE)
    after = min(today, now - timedelta(seconds=proposals.RELAY_SECONDS[1]))
    ours = timetable.slots(proposal.schedule, proposal.duration_ms, now, before)
    others = timetable.bookings(after, before, exclude_id=exclude_id)
    return Review(
        next_runs=proposal.schedule.next(now, PREVIEW_RUNS),
        conflicts=timetable.conflicts(proposal.priority, proposal.cluster_ids, ours, others),
        violations=guardrails.violations(proposal.priority, proposal.ward_ids, ours, others),
        reach=reach.of_clusters(proposal.cluster_ids, now, settings.current().heartbeat_s),
        checked_until=before if unchecked else None,
    )


def _read(user: User, data, now: datetime, editing: Broadcast | None = None) -> Proposal:
    access.require_role(user, *access.SCHEDULERS)
    proposal = proposals.read(data, now, chime_ms=media.CHIME_MS, may_use=media.usable_by(user),
                              scope=access.ward_scope(user), editing=editing)
    access.require_wards(user, proposal.ward_ids)
    return proposal


def review(user: User, data, broadcast_id: int | None = None) -> Review:
    """Check a request without saving it: the form shows this before the officer submits."""
    now = clock.now()
    editing = editable_broadcast(user, broadcast_id) if broadcast_id is not None else None
    return _review(_read(user, _without_draft(data)[0], now, editing), now, broadcast_id)


def _admit(user: User, proposal: Proposal, found: Review) -> None:
    """Refuse conflicts always, guardrail breaches unless an administrator overrides them with a reason."""
    if found.conflicts:
        first = found.conflicts[0]
        raise Conflict(_("Trùng giờ với %(n)s lượt phát cùng mức ưu tiên trên cùng cụm loa, đầu tiên là “%(title)s” "
                         "lúc %(at)s. Hãy đổi giờ phát, hoặc đổi mức ưu tiên nếu bản tin này cần chen ngang.",
                         n=len(found.conflicts), title=first["title"],
                         at=first["start_at"].astimezone(LOCAL_ZONE).strftime("%H:%M:%S %d/%m/%Y")),
                       extra={"conflicts": found.conflicts})
    if not found.violations:
        return
    if proposal.override_reason is None:
        raise ValidationFailed(_("Bản tin vi phạm quy định phát của phường: %(rules)s. Hãy chọn giờ khác, hoặc nhờ "
                                 "quản trị viên cho phép kèm lý do.",
                                 rules="; ".join(str(v["message"]) for v in found.violations)),
                               code="guardrail", extra={"violations": found.violations})
    if user.role is not Role.ADMIN:
        raise Forbidden(_("Chỉ quản trị viên mới được bỏ qua quy định phát của phường."))


def _clip(user: User, proposal: Proposal, broadcast: Broadcast | None) -> Audio | None:
    """The one clip a run sends: the chosen clip, or the programme composed (again only if it changed)."""
    programme = proposal.programme
    if programme.kind is ProgrammeKind.RELAY:
        return None
    if not programme.composed:
        return programme.items[0]
    if broadcast is not None and broadcast.audio is not None and broadcast.programme == programme.describe():
        return broadcast.audio
    return media.compose(user, programme, proposal.title)


def _save(user: User, proposal: Proposal, now: datetime, broadcast: Broadcast | None = None,
          draft: bool | None = None, copied_from: int | None = None) -> tuple[Broadcast, Review]:
    """Check, compose, check again under lock, store and plan (once approved): the one path of creating,
    editing and duplicating."""
    exclude_id = broadcast.id if broadcast is not None else None
    state, step = approval_rules.on_save(user, proposal.ward_ids, proposal.priority, draft=draft,
                                         was=broadcast.approval if broadcast is not None else None)
    if proposal.immediate:
        approval_rules.refuse_waiting_now(state)
    _admit(user, proposal, _review(proposal, now, exclude_id))  # refuse early, before seconds of composing
    clip = _clip(user, proposal, broadcast)
    if proposal.immediate:  # "now" starts once the audio exists and the fleet has had time to fetch it
        now = clock.now()
        load = len(proposal.clusters) * (clip.duration_ms / 1000 if clip is not None else 0)
        proposal = proposal.starting_at(now + planning.now_lead(now, load, proposal.priority))
    # Two officers saving at once must not both pass the same free slot: lock the wards (PostgreSQL; SQLite
    # writers are serialised by the database), then look again.
    db.session.execute(select(Ward.id).where(Ward.id.in_(sorted(proposal.ward_ids))).with_for_update())
    found = _review(proposal, now, exclude_id)
    _admit(user, proposal, found)
    before = described(broadcast) if broadcast is not None else None
    if broadcast is None:
        broadcast = Broadcast(created_by=user.id, created_at=now)
        db.session.add(broadcast)
    else:
        broadcast.updated_at = now
        db.session.execute(delete(Run).where(Run.broadcast_id == broadcast.id, Run.state == RunState.SCHEDULED))
        db.session.expire(broadcast, ["runs"])
        broadcast.planned_until = None
    _apply(broadcast, user, proposal, found, clip)
    if step is not None:
        approval_rules.record_step(broadcast, user, step, state, now)
    if state is ApprovalState.APPROVED:
        planning.plan_runs(broadcast, now, immediate=proposal.immediate)
    _record_saved(broadcast, before, copied_from)
    db.session.commit()
    if proposal.immediate:
        _dispatch_now(broadcast)
    return broadcast, found


def described(broadcast: Broadcast) -> dict:
    """What a person changes in a broadcast, as JSON values: what the audit log keeps before and after an edit."""
    times = {"start_at": broadcast.start_at, "until": broadcast.until}
    return {
        "title": broadcast.title, "priority": broadcast.priority.value, "kind": broadcast.kind.value,
        "targets": broadcast.targets, "rrule": broadcast.rrule, "times": broadcast.times,
        "exdates": broadcast.exdates, "audio_id": broadcast.audio_id, "programme": broadcast.programme,
        "stream_url": broadcast.stream_url, "override_reason": broadcast.override_reason,
        "approval": broadcast.approval.value if broadcast.approval is not None else None,
        **{name: value.isoformat() if value is not None else None for name, value in times.items()},
    }


def _record_saved(broadcast: Broadcast, before: dict | None, copied_from: int | None = None) -> None:
    db.session.flush()  # a new broadcast's id names it in the entry
    wards, target = [w.ward_id for w in broadcast.wards], f"broadcast:{broadcast.id}"
    if copied_from is not None:
        audit.record("broadcast.duplicate", target, wards=wards, source=f"broadcast:{copied_from}",
                     after=described(broadcast))
    elif before is None:
        audit.record("broadcast.create", target, wards=wards, after=described(broadcast))
    else:
        old, new = audit.changed(before, described(broadcast))
        audit.record("broadcast.edit", target, wards=wards, before=old, after=new)


def _dispatch_now(broadcast: Broadcast) -> None:
    """Queue the commands of a "now" broadcast before answering, rather than at the scheduler's next tick.

    Should this fail, the run stays scheduled and due: the scheduler dispatches it at its next tick.
    """
    first = min((r for r in broadcast.runs if r.state is RunState.SCHEDULED), key=lambda r: r.start_at, default=None)
    if first is None:
        return
    try:
        dispatch.dispatch_run(first.id)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("dispatching run %s at once failed; the scheduler will", first.id)


def _apply(broadcast: Broadcast, user: User, proposal: Proposal, found: Review, clip: Audio | None) -> None:
    programme = proposal.programme
    broadcast.title, broadcast.priority, broadcast.kind = proposal.title, proposal.priority, programme.kind
    broadcast.targets = proposal.targets
    broadcast.wards = [w for w in broadcast.wards if w.ward_id in proposal.ward_ids] + [
        BroadcastWard(ward_id=w) for w in sorted(proposal.ward_ids - {w.ward_id for w in broadcast.wards})]
    schedule = proposal.schedule
    broadcast.start_at, broadcast.rrule, broadcast.until = schedule.start_at, schedule.rule, schedule.until
    broadcast.exdates = sorted(d.isoformat() for d in schedule.exdates) or None
    broadcast.times = [t.strftime("%H:%M") for t in schedule.times] or None
    broadcast.programme, broadcast.stream_url = programme.describe(), programme.stream_url
    broadcast.audio = clip
    broadcast.duration_ms = clip.duration_ms if clip is not None else programme.relay_ms
    overriding = bool(found.violations)
    broadcast.override_reason = proposal.override_reason if overriding else None
    broadcast.override_by = user.id if overriding else None


def _without_draft(data) -> tuple[dict, bool | None]:
    """Split the request's `draft` (save as a draft, or send for approval) from the broadcast it describes."""
    return {key: value for key, value in data.items() if key != "draft"}, data.get("draft")


def create_broadcast(user: User, data) -> tuple[Broadcast, Review]:
    """Validate an officer's request, store the broadcast, and plan its first runs once it is approved."""
    now = clock.now()
    data, draft = _without_draft(data)
    return _save(user, _read(user, data, now), now, draft=bool(draft))


def update_broadcast(user: User, broadcast_id: int, data) -> tuple[Broadcast, Review]:
    """Change a broadcast from now on: runs not yet dispatched are planned afresh (an officer's approved broadcast
    goes back for approval first), past runs keep their records."""
    now = clock.now()
    broadcast = editable_broadcast(user, broadcast_id, for_update=True)  # the scheduler's planning waits meanwhile
    if broadcast.cancelled_at is not None:
        raise Conflict(_("Bản tin này đã bị hủy; hãy tạo bản tin mới."))
    data, draft = _without_draft(data)
    return _save(user, _read(user, data, now, broadcast), now, broadcast, draft)


def duplicate_broadcast(user: User, source_id: int, data) -> tuple[Broadcast, Review]:
    """Save, as a new broadcast, a copy of one the user may change; the original stays as it was."""
    now = clock.now()
    source = editable_broadcast(user, source_id)
    return _save(user, _read(user, data, now), now, copied_from=source.id)


def copy_start(broadcast: Broadcast, now: datetime) -> datetime:
    """Return when a copy made now first sounds: its own start if still ahead, else its next occurrence, else the
    same local time of day on the first day ahead."""
    soon = now + COPY_LEAD
    if broadcast.start_at >= soon:
        return broadcast.start_at
    if broadcast.rrule is not None and (upcoming := broadcast.schedule.next(soon, 1)):
        return upcoming[0]
    return broadcast.start_at + timedelta(days=math.ceil((soon - broadcast.start_at) / timedelta(days=1)))


def _find_broadcast(user: User, broadcast_id: int, *, every_ward: bool, for_update: bool = False) -> Broadcast:
    valid = 1 <= broadcast_id <= MAX_ID
    broadcast = db.session.get(Broadcast, broadcast_id, with_for_update=for_update) if valid else None
    return access.require_seen(user, broadcast, lambda b: {w.ward_id for w in b.wards},
                               NotFound(_("Không có bản tin số %(id)s.", id=broadcast_id)), every_ward=every_ward)


def get_broadcast(user: User, broadcast_id: int) -> Broadcast:
    """Return a broadcast that reaches the user's wards (an officer sees a district one too, not to change it)."""
    return _find_broadcast(user, broadcast_id, every_ward=False)


def editable_broadcast(user: User, broadcast_id: int, *, for_update: bool = False) -> Broadcast:
    """Return a broadcast every ward of which is the user's, to change or decide on (locked if for_update)."""
    return _find_broadcast(user, broadcast_id, every_ward=True, for_update=for_update)


def may_change(user: User, broadcast: Broadcast) -> bool:
    """Tell whether the user may edit or cancel a broadcast (a page shows its buttons only then)."""
    return user.role.schedules and access.covers(user, {w.ward_id for w in broadcast.wards})


def cancel_broadcast(user: User, broadcast_id: int) -> Broadcast:
    """Cancel future runs and stop any run now under way."""
    access.require_role(user, *access.SCHEDULERS)
    broadcast = editable_broadcast(user, broadcast_id)
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
        audit.record("broadcast.cancel", f"broadcast:{broadcast.id}", wards=[w.ward_id for w in broadcast.wards],
                     title=broadcast.title)
        db.session.commit()
    return broadcast


def cancel_run(user: User, run: Run) -> Run:
    """Cancel one run: before dispatch it never goes out; once dispatched its clusters are told to drop it."""
    access.require_role(user, *access.SCHEDULERS)
    now = clock.now()
    cancelled = db.session.execute(
        update(Run).where(Run.id == run.id, Run.state == RunState.SCHEDULED)
        .values(state=RunState.CANCELLED, reason=f"cancelled by {user.username}")
    ).rowcount
    if not cancelled:
        db.session.refresh(run)
        if run.state is not RunState.DISPATCHED:
            raise Conflict(_("Lượt phát này đã ở trạng thái “%(state)s”, không còn gì để hủy.",
                             state=RUN_STATE_WORDS.get(run.state, run.state.value)))
        queue_cancel(run, now)
        run.reason = f"cancelled by {user.username}"
    audit.record("run.cancel", f"run:{run.id}", wards=[w.ward_id for w in run.broadcast.wards],
                 broadcast_id=run.broadcast_id,
                 start_at=run.start_at.isoformat())
    db.session.commit()
    db.session.refresh(run)
    return run
