"""Is the system working: the database, the worker's scheduler and MQTT session, and command signing."""

import logging

from sqlalchemy import text

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import ServiceBeat
from pa_controller.services import command_keys

log = logging.getLogger(__name__)
HEALTHY_BEAT_S = 10


def report() -> dict:
    """Return {status, db, mqtt, scheduler, signing}, each `ok` or a reason a person can act on."""
    answer = {"status": "ok", "db": "ok", "mqtt": "unknown", "scheduler": "unknown", "signing": "unknown"}
    try:
        db.session.execute(text("SELECT 1"))
        beat = db.session.get(ServiceBeat, "worker")
        key = command_keys.current_key()
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
    if any(answer[k] != "ok" for k in ("db", "mqtt", "scheduler", "signing")):
        answer["status"] = "degraded"
    return answer
