"""Submit, approve, send back and review broadcasts, and what waits for an approver (issue 14).

An approver (or an administrator) decides for a broadcast only if every ward it reaches is theirs, and never
for one they saved themselves. Each action checks the state it starts from (409 otherwise) and writes an audit
entry with the state before and after.
"""

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import ApprovalAction, ApprovalState
from pa_controller.errors import Conflict, Forbidden, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, User
from pa_controller.services import access, approval_rules, audit, broadcasts, planning

MAX_COMMENT = 1000
STATE_WORDS = {ApprovalState.DRAFT: _("bản nháp"), ApprovalState.SUBMITTED: _("đang chờ duyệt"),
               ApprovalState.RETURNED: _("đã bị trả lại"), ApprovalState.APPROVED: _("đã được duyệt")}


def _refuse_state(broadcast: Broadcast, action) -> None:
    raise Conflict(_("Không thể %(action)s: bản tin “%(title)s” đang là %(state)s.", action=action,
                     title=broadcast.title, state=STATE_WORDS[broadcast.approval]))


def _state(broadcast: Broadcast) -> dict:
    return {"approval": broadcast.approval.value, "awaiting_review": broadcast.awaiting_review}


def _record(name: str, broadcast: Broadcast, before: dict, comment: str | None = None) -> None:
    old, new = audit.changed(before, _state(broadcast))
    audit.record(f"broadcast.{name}", f"broadcast:{broadcast.id}", wards=[w.ward_id for w in broadcast.wards],
                 before=old, after=new, **({"comment": comment} if comment else {}))


def _refuse_past(broadcast: Broadcast) -> None:
    if not broadcast.schedule.next(clock.now(), 1):
        raise Conflict(_("Giờ phát của “%(title)s” đã qua; hãy trả lại để cán bộ chọn giờ khác.",
                         title=broadcast.title))


def _live(user: User, broadcast_id: int) -> Broadcast:
    """The broadcast, locked, if every ward it reaches is the user's, unless cancelled."""
    broadcast = broadcasts.editable_broadcast(user, broadcast_id, for_update=True)
    if broadcast.cancelled_at is not None:
        raise Conflict(_("Bản tin này đã bị hủy; không còn gì để duyệt."))
    return broadcast


def may_decide(user: User, broadcast: Broadcast) -> bool:
    """Tell whether the user may approve, send back or review the broadcast (a page shows the buttons only then)."""
    return (user.role.approves and broadcast.created_by != user.id
            and access.covers(user, {w.ward_id for w in broadcast.wards}))


def _for_approver(user: User, broadcast_id: int) -> Broadcast:
    access.require_role(user, *access.APPROVERS)
    broadcast = _live(user, broadcast_id)
    if broadcast.created_by == user.id:
        raise Forbidden(_("Bạn không thể tự duyệt bản tin của chính mình; một người duyệt khác phải làm việc này."))
    return broadcast


def submit(user: User, broadcast_id: int) -> Broadcast:
    """Send a draft or a returned broadcast for approval (approved at once if it needs none)."""
    access.require_role(user, *access.SCHEDULERS)
    broadcast = _live(user, broadcast_id)
    if broadcast.approval not in (ApprovalState.DRAFT, ApprovalState.RETURNED):
        _refuse_state(broadcast, _("gửi duyệt"))
    before, now = _state(broadcast), clock.now()
    state, action = approval_rules.on_save(user, {w.ward_id for w in broadcast.wards}, broadcast.priority,
                                           draft=False, was=broadcast.approval)
    if state is ApprovalState.APPROVED:
        _refuse_past(broadcast)
    approval_rules.record_step(broadcast, user, action, state, now)
    if state is ApprovalState.APPROVED:
        planning.plan_runs(broadcast, now)
    _record("submit", broadcast, before)
    db.session.commit()
    return broadcast


def approve(user: User, broadcast_id: int) -> Broadcast:
    """Approve a submitted broadcast: its runs are planned and the scheduler sees them."""
    broadcast = _for_approver(user, broadcast_id)
    if broadcast.approval is not ApprovalState.SUBMITTED:
        _refuse_state(broadcast, _("duyệt"))
    _refuse_past(broadcast)
    before, now = _state(broadcast), clock.now()
    approval_rules.record_step(broadcast, user, ApprovalAction.APPROVE, ApprovalState.APPROVED, now)
    planning.plan_runs(broadcast, now)
    _record("approve", broadcast, before)
    db.session.commit()
    return broadcast


def _comment(comment: str | None, *, required: bool) -> str | None:
    comment = (comment or "").strip()
    if required and not comment:
        raise ValidationFailed(_("Hãy ghi nhận xét để cán bộ biết cần sửa gì."), fields={"comment": "missing"})
    if len(comment) > MAX_COMMENT or "\x00" in comment:
        raise ValidationFailed(_("Nhận xét dài nhiều nhất %(n)s ký tự.", n=MAX_COMMENT), fields={"comment": "invalid"})
    return comment or None


def send_back(user: User, broadcast_id: int, comment: str | None) -> Broadcast:
    """Return a submitted broadcast to its officer with a comment saying what to change."""
    comment = _comment(comment, required=True)
    broadcast = _for_approver(user, broadcast_id)
    if broadcast.approval is not ApprovalState.SUBMITTED:
        _refuse_state(broadcast, _("trả lại"))
    before = _state(broadcast)
    approval_rules.record_step(broadcast, user, ApprovalAction.RETURN, ApprovalState.RETURNED, clock.now(), comment)
    _record("return", broadcast, before, comment)
    db.session.commit()
    return broadcast


def review(user: User, broadcast_id: int, comment: str | None = None) -> Broadcast:
    """Mark an emergency sent before approval as reviewed, with an optional comment."""
    comment = _comment(comment, required=False)
    broadcast = _for_approver(user, broadcast_id)
    if not broadcast.awaiting_review:
        raise Conflict(_("“%(title)s” không chờ xem xét: chỉ bản tin khẩn cấp đã phát trước khi duyệt mới cần.",
                         title=broadcast.title))
    before = _state(broadcast)
    approval_rules.record_step(broadcast, user, ApprovalAction.REVIEW, broadcast.approval, clock.now(), comment)
    _record("review", broadcast, before, comment)
    db.session.commit()
    return broadcast


def waiting_for(user: User, limit: int = 200) -> list[Broadcast]:
    """What waits for the user: submitted broadcasts and unreviewed emergencies they may decide, oldest first."""
    if not user.role.approves:
        return []
    query = (select(Broadcast).where(Broadcast.cancelled_at.is_(None),
                                     (Broadcast.approval == ApprovalState.SUBMITTED)
                                     | Broadcast.awaiting_review.is_(True))
             .order_by(Broadcast.created_at, Broadcast.id).limit(limit))
    return [b for b in db.session.scalars(query) if may_decide(user, b)]


def latest(broadcast: Broadcast):
    """The step that put the broadcast in its state, or None (saved before approvals existed)."""
    return next((s for s in reversed(broadcast.steps) if s.action is not ApprovalAction.REVIEW), None)
