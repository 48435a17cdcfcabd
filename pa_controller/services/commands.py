"""Build protocol commands and queue them in the outbox, in the caller's transaction."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

import pa_protocol as protocol
from pa_controller import settings
from pa_controller.domain import ProgrammeKind
from pa_controller.extensions import db
from pa_controller.models import Delivery, OutboxMessage, Run
from pa_controller.services import outbox_wake
from pa_protocol import CommandType, DeliveryState


def new_command(cid: str, ctype: CommandType, now: datetime, expires_at: datetime, **fields) -> dict:
    """Return a command payload (unsigned: signing arrives with the security issue)."""
    return {
        "v": protocol.VERSION,
        "id": str(uuid.uuid4()),
        "cid": cid,
        "type": ctype.value,
        "issued_at": protocol.format_time(now),
        "expires_at": protocol.format_time(expires_at),
        **fields,
    }


def outbox_row(command: dict, now: datetime, expires_at: datetime) -> dict:
    """Return the outbox row that carries one command."""
    root = settings.current().mqtt_root
    return {
        "cmd_id": command["id"],
        "topic": protocol.topic(root, command["cid"], protocol.CMD),
        "payload": protocol.encode(command),
        "expires_at": expires_at,
        "created_at": now,
    }


def queue(rows: list[dict]) -> None:
    """Add outbox rows to the session's transaction in one statement; its commit wakes the outbox publisher."""
    if rows:
        db.session.execute(insert(OutboxMessage), rows)
        outbox_wake.ring()


def queue_cancel(run: Run, now: datetime) -> int:
    """Queue a `cancel` to every cluster of a run that has not finished it; return how many."""
    expires_at = max(run.closes_at, now + timedelta(seconds=60))
    rows = []
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)):
        if not delivery.state.is_final:
            command = new_command(delivery.cluster_id, CommandType.CANCEL, now, expires_at, run_id=str(run.id))
            rows.append(outbox_row(command, now, expires_at))
    queue(rows)
    # Compare-and-set: an event stored meanwhile by the inbox wins over this.
    db.session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, at=now)
    )
    return len(rows)


def run_command(run: Run) -> tuple[CommandType, dict]:
    """Return the type and fields of the command that carries a run: `play` for audio, `relay` for a stream."""
    broadcast = run.broadcast
    common = {"run_id": str(run.id), "title": broadcast.title, "priority": broadcast.priority.value,
              "start_at": protocol.format_time(run.start_at)}
    if broadcast.kind is ProgrammeKind.RELAY:
        end_at = run.start_at + timedelta(milliseconds=broadcast.duration_ms)
        return CommandType.RELAY, {**common, "end_at": protocol.format_time(end_at), "stream_url": broadcast.stream_url}
    audio, base = broadcast.audio, settings.current().public_url
    return CommandType.PLAY, {
        **common,
        "duration_ms": audio.duration_ms,
        "audio": {"url": f"{base}/media/{audio.sha256}.mp3", "sha256": audio.sha256, "bytes": audio.bytes},
    }


def run_expiry(run: Run) -> datetime:
    """A run's command is useless once its window has closed."""
    return run.closes_at
