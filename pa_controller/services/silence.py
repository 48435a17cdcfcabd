"""Stop-all: silence every cluster now, whatever plays and whatever is armed."""

from datetime import timedelta

from flask_babel import lazy_gettext as _

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import StopOrder, User
from pa_controller.services import access, audit, commands, fleet
from pa_protocol import CommandType

# A stop that reaches a cluster a minute late would silence what came after it.
STOP_TTL = timedelta(seconds=60)


def stop_all(user: User, reason: str) -> StopOrder:
    """Queue a `stop` to every cluster in service and record who asked and why."""
    access.require_role(user, Role.ADMIN)
    if not 1 <= len(reason.strip()) <= 500:  # the page's form; the API's schema says the same
        raise ValidationFailed(_("Hãy ghi lý do phải dừng tất cả (1–500 ký tự)."), fields={"reason": "invalid"})
    now = clock.now()
    expires_at = now + STOP_TTL
    rows = [
        commands.outbox_row(commands.new_command(cid, CommandType.STOP, now, expires_at), now, expires_at)
        for cid in fleet.active_cluster_ids()
    ]
    order = StopOrder(reason=reason.strip(), clusters=len(rows), created_by=user.id, created_at=now)
    db.session.add(order)
    commands.queue(rows)
    db.session.flush()
    audit.record("stop_all", f"stop_order:{order.id}", reason=order.reason, clusters=order.clusters)
    db.session.commit()
    return order
