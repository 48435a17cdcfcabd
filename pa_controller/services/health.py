"""Is the system working: the database, the worker's scheduler and MQTT session, the ingest processes (when there
are any), and command signing."""

import logging

from sqlalchemy import text

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import ServiceBeat
from pa_controller.services import command_keys
from pa_controller.settings import current as current_settings

log = logging.getLogger(__name__)
HEALTHY_BEAT_S = 10


def report() -> dict:
    """Return {status, db, mqtt, scheduler, signing}, each `ok` or a reason a person can act on; with ingest
    processes (PA_INGEST_WORKERS), `ingest` too."""
    answer = {"status": "ok", "db": "ok", "mqtt": "unknown", "scheduler": "unknown", "signing": "unknown"}
    try:
        db.session.execute(text("SELECT 1"))
        beat = db.session.get(ServiceBeat, "worker")
        key = command_keys.current_key()
        workers = current_settings().ingest_workers
        ingest = {number: db.session.get(ServiceBeat, f"ingest.{number}") for number in range(1, workers + 1)}
    except Exception as exc:  # the database itself is what is being checked
        log.warning("health: database unreachable: %s", exc)
        return {**answer, "status": "degraded", "db": "unreachable"}
    if key is None:
        answer["signing"] = command_keys.NoCurrentKey.word
    else:
        answer["signing"] = (beat.signing if beat is not None and beat.signing else None) or "ok"
    if beat is None:
        answer["scheduler"] = answer["mqtt"] = "worker never started (flask pa scheduler)"
    else:
        age = (clock.now() - beat.beat_at).total_seconds()
        answer["scheduler"] = "ok" if age <= HEALTHY_BEAT_S else f"no beat for {age:.0f} s"
        answer["mqtt"] = "ok" if beat.mqtt_connected and age <= HEALTHY_BEAT_S else (beat.detail or "disconnected")
    if ingest:
        answer["ingest"] = _ingest(ingest)
    if any(answer[k] != "ok" for k in ("db", "mqtt", "scheduler", "signing", "ingest") if k in answer):
        answer["status"] = "degraded"
    return answer


def _ingest(beats: dict[int, ServiceBeat | None]) -> str:
    """`ok` if every ingest process beats and is connected, else what is wrong with each that is not."""
    wrong = []
    for number, beat in beats.items():
        age = None if beat is None else (clock.now() - beat.beat_at).total_seconds()
        if beat is None:
            wrong.append(f"ingest {number} never started (flask pa ingest --worker {number})")
        elif age > HEALTHY_BEAT_S:
            wrong.append(f"ingest {number}: no beat for {age:.0f} s")
        elif not beat.mqtt_connected:
            wrong.append(f"ingest {number}: disconnected")
    return "; ".join(wrong) or "ok"
