"""Is the system working: the database, and the worker's scheduler and MQTT session."""

import logging

from sqlalchemy import text

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import ServiceBeat

log = logging.getLogger(__name__)
HEALTHY_BEAT_S = 10


def report() -> dict:
    """Return {status, db, mqtt, scheduler}, each `ok` or a reason a person can act on."""
    answer = {"status": "ok", "db": "ok", "mqtt": "unknown", "scheduler": "unknown"}
    try:
        db.session.execute(text("SELECT 1"))
        beat = db.session.get(ServiceBeat, "worker")
    except Exception as exc:  # the database itself is what is being checked
        log.warning("health: database unreachable: %s", exc)
        return {**answer, "status": "degraded", "db": "unreachable"}
    if beat is None:
        answer["scheduler"] = answer["mqtt"] = "worker never started (flask pa scheduler)"
    else:
        age = (clock.now() - beat.beat_at).total_seconds()
        answer["scheduler"] = "ok" if age <= HEALTHY_BEAT_S else f"no beat for {age:.0f} s"
        answer["mqtt"] = "ok" if beat.mqtt_connected and age <= HEALTHY_BEAT_S else (beat.detail or "disconnected")
    if any(answer[k] != "ok" for k in ("db", "mqtt", "scheduler")):
        answer["status"] = "degraded"
    return answer
