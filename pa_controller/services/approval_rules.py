"""Where saving puts a broadcast on its way to approval, and its approval history (issue 14).

A ward's officers need an approver when its rule `approval_required` is on; a broadcast reaching several wards
needs one if any of them does. An administrator's broadcast is approved as it is saved; so is an emergency saved
by a user who may send emergencies, which then awaits an approver's review.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller.domain import ApprovalAction, ApprovalState, Role
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import ApprovalStep, Broadcast, User, Ward
from pa_protocol import Priority

Settled = tuple[ApprovalState, ApprovalAction | None]


def required(ward_ids) -> bool:
    """Tell whether any of the wards asks for its officers' broadcasts to be approved."""
    return bool(db.session.scalar(select(Ward.id).where(Ward.id.in_(sorted(ward_ids)),
                                                        Ward.approval_required.is_(True)).limit(1)))


def _sent_at_once(user: User, ward_ids, priority: Priority) -> Settled | None:
    """The state of a broadcast that needs nobody's approval, if it is one."""
    if user.role is Role.ADMIN:
        return ApprovalState.APPROVED, ApprovalAction.APPROVE
    if not required(ward_ids):
        return ApprovalState.APPROVED, ApprovalAction.NOT_REQUIRED
    if priority is Priority.EMERGENCY and user.may_send_emergencies:
        return ApprovalState.APPROVED, ApprovalAction.EMERGENCY
    return None


def on_save(user: User, ward_ids, priority: Priority, *, draft: bool | None, was: ApprovalState | None) -> Settled:
    """Return the state saving puts a broadcast in (`was` its state, None if new), and the step to record (None:
    it stays where it was).

    `draft`: True saves a draft, False sends it for approval, None (an edit through the API) keeps a draft or a
    returned broadcast where it is and sends an approved one back for approval.
    """
    at_once = _sent_at_once(user, ward_ids, priority)
    if draft:
        state, action = ApprovalState.DRAFT, ApprovalAction.DRAFT
    elif draft is None and was in (ApprovalState.DRAFT, ApprovalState.RETURNED):
        state, action = was, None
    elif at_once is not None:
        state, action = at_once
    elif was is ApprovalState.APPROVED:
        state, action = ApprovalState.SUBMITTED, ApprovalAction.EDIT
    else:
        state, action = ApprovalState.SUBMITTED, ApprovalAction.SUBMIT
    if state is was and action is not ApprovalAction.EMERGENCY:
        action = None
    return state, action


def refuse_waiting_now(state: ApprovalState) -> None:
    """Refuse "now" for a broadcast that must wait for an approver: by then "now" has passed."""
    if state is not ApprovalState.APPROVED:
        raise ValidationFailed(_("Bản tin này cần được duyệt trước khi phát nên không thể “phát ngay”. Hãy chọn "
                                 "giờ phát."), fields={"start_at": "needs_approval"})


def record_step(broadcast: Broadcast, user: User | None, action: ApprovalAction, state: ApprovalState,
                now: datetime, comment: str | None = None) -> ApprovalStep:
    """Put the broadcast in `state` and add the step to its history."""
    broadcast.approval = state
    if action is ApprovalAction.EMERGENCY:
        broadcast.awaiting_review = True
    elif action is ApprovalAction.REVIEW or state is not ApprovalState.APPROVED:
        broadcast.awaiting_review = False
    step = ApprovalStep(action=action, state=state, user_id=user.id if user is not None else None, at=now,
                        comment=comment)
    broadcast.steps.append(step)
    return step
