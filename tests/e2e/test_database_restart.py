"""PostgreSQL restarted under load: the web tier and the worker reconnect by themselves, and nothing is lost.

A private PostgreSQL (the machine's own serves everything else), the web tier as gunicorn, the scheduler as
`flask pa scheduler`, a private Mosquitto and every 8th cluster of Ô Môn (57). While an officer's client posts
broadcasts and reads reports in a loop and heartbeats flow, the database is stopped just before a dispatched
run sounds and started again once every cluster has played it: the clusters' reports of that run reach a worker
whose database is away. A broadcast accepted before the outage and due after it, and one created after it,
must then play too. Judged by the clusters' ground truth: each run played exactly once by each cluster, and its
report agrees with the truth; the load saw a clear 503 during the outage, never a 500 nor a hang.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

import pa_protocol as protocol
from firmware_sim import Fleet, load_csv, read_truth
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Run
from pa_controller.scheduling.lock import SchedulerLock, SchedulerLocked
from tests.support.broker import free_port
from tests.support.runs import broadcast_to, judge, played, report, upload
from tests.support.system import System
from tests.support.web import running_controller

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

SAMPLE = load_csv()[::8]
CIDS = [spec.cid for spec in SAMPLE]
ELSEWHERE = load_csv()[1].cid  # no simulated cluster: the load's broadcasts, a day ahead, sound nowhere here
HEARTBEAT_S = 2.0
SETTINGS = {"now_lead_s": 3.0, "run_settle_s": 3.0, "heartbeat_s": HEARTBEAT_S, "dispatch_lead_s": 4.0}
REQUEST_BOUND_S = 30.0  # generous: a request during the outage must end, in one answer or another, within this
SOUND_IN_S = 10  # the run that sounds during the outage: time for every cluster to fetch its audio first
DUE_IN_S = 40  # the run due after it: its dispatch (4 s before) comes once the database is back
OUTAGE_S = 3 * HEARTBEAT_S  # at least: every cluster sends heartbeats to a worker whose database is away


@dataclass(frozen=True)
class Answer:
    what: str
    status: int | str  # an HTTP status, or the name of the exception the client got instead
    seconds: float
    body: dict | None
    retry_after: str | None


class OfficerLoad:
    """An officer's client in a loop: post a broadcast (a day ahead, each at its own minute), read reports."""

    def __init__(self, system: System, audio_id: int, run_id: int):
        self.system = system
        self.audio_id = audio_id
        self.run_id = run_id
        self.answers: list[Answer] = []
        self.accepted: list[int] = []  # ids of the broadcasts answered 201
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="officer-load", daemon=True)
        self._serial = 0

    def __enter__(self) -> "OfficerLoad":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(REQUEST_BOUND_S * 3)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._serial += 1
            start_at = datetime.now(UTC) + timedelta(days=1, minutes=10 * self._serial)
            created = self._ask("post", "/api/v1/broadcasts", json={
                "title": f"Lịch tiêm chủng {self._serial}", "audio_id": self.audio_id, "priority": "normal",
                "targets": {"clusters": [ELSEWHERE]}, "start_at": protocol.format_time(start_at)})
            if created.status == 201:
                self.accepted.append(created.body["id"])
            self._ask("get", f"/api/v1/runs/{self.run_id}")
            self._ask("get", "/api/v1/broadcasts")
            self._stop.wait(0.05)

    def _ask(self, method: str, path: str, **kwargs) -> Answer:
        started = time.monotonic()
        try:
            response = requests.request(method, self.system.base_url + path, headers=self.system.auth,
                                        timeout=REQUEST_BOUND_S, **kwargs)
            try:
                body = response.json()
            except ValueError:
                body = None
            answer = Answer(f"{method.upper()} {path}", response.status_code, time.monotonic() - started, body,
                            response.headers.get("Retry-After"))
        except requests.RequestException as exc:
            answer = Answer(f"{method.upper()} {path}", type(exc).__name__, time.monotonic() - started, None, None)
        self.answers.append(answer)
        return answer

    def statuses(self) -> set:
        return {answer.status for answer in list(self.answers)}


@pytest.fixture
def stack(private_postgres, broker, make_settings, tmp_path):
    """The controller on the private PostgreSQL: the web tier and the scheduler as processes of their own."""
    settings = make_settings(private_postgres.url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{free_port()}", **SETTINGS)
    with running_controller(settings, broker, tmp_path) as (system, _web, scheduler):
        yield system, scheduler


def _broadcast(system: System, audio_id: int, title: str, start_at: datetime) -> int:
    return broadcast_to(system, CIDS, title, start_at, audio_id=audio_id)


def test_postgresql_restarted_under_load_loses_no_report_and_every_run_plays_exactly_once(
        stack, private_postgres, broker, tone, tmp_path):
    system, scheduler = stack
    truth_path = tmp_path / "truth.jsonl"
    audio_id = upload(system, tone)
    with Fleet(SAMPLE, broker.url, truth_path=truth_path, heartbeat_s=HEARTBEAT_S, credentials=broker.passwords,
               keys_url=system.keys_url) as fleet:
        system.wait_for(lambda: fleet.call(lambda: all(s.ever_subscribed for s in fleet.sessions.values())), 20,
                        "every cluster subscribed", show=fleet.summary)
        # Accepted before the outage, dispatched after it.
        due_after = _broadcast(system, audio_id, "Lịch thu thuế", datetime.now(UTC) + timedelta(seconds=DUE_IN_S))
        with OfficerLoad(system, audio_id, due_after) as load:
            system.wait_for(lambda: len(load.accepted) >= 3, 20, "the load to get going")
            # Sounding during the outage: dispatched at once (its lead is longer than its start is away), the
            # audio in every cluster's hands before the database goes.
            sound_at = datetime.now(UTC) + timedelta(seconds=SOUND_IN_S)
            sounding = _broadcast(system, audio_id, "Thông báo mất điện", sound_at)
            system.wait_for(lambda: report(system, sounding)["counts"] == {"ready": len(SAMPLE)}, 20,
                            "every cluster to hold the audio", show=lambda: report(system, sounding)["counts"])
            with system.app.app_context():
                assert db.session.get(Run, due_after).state.value == "scheduled", "dispatched before the outage"
                db.session.remove()
            assert datetime.now(UTC) < sound_at - timedelta(seconds=1), "too slow: the run sounds before the outage"
            private_postgres.stop()
            stopped = datetime.now(UTC)
            answered_before = len(load.answers)
            system.wait_for(lambda: len(played(truth_path, sounding)) == len(SAMPLE), 30,
                            "every cluster to play the run while the database is away")
            time.sleep(max(0.0, OUTAGE_S - (datetime.now(UTC) - stopped).total_seconds()))  # heartbeats pile up
            system.wait_for(lambda: len(load.answers) > answered_before + 3, 30, "the load to meet the outage")
            private_postgres.start()
            started = datetime.now(UTC)
            log.warning("PostgreSQL was stopped for %.1f s", (started - stopped).total_seconds())
            # The web tier and the worker find it again by themselves.
            system.wait_for(lambda: requests.get(system.base_url + "/api/v1/health", timeout=10).json() == {
                "status": "ok", "db": "ok", "mqtt": "ok", "scheduler": "ok", "signing": "ok"}, 20,
                "the health to be ok again")
            accepted_before = len(load.accepted)
            due_at = datetime.fromisoformat(report(system, due_after)["start_at"])
            after = _broadcast(system, audio_id, "Thông báo sau sự cố",
                               max(datetime.now(UTC) + timedelta(seconds=6), due_at + timedelta(seconds=5)))
            system.wait_for(lambda: len(load.accepted) > accepted_before, 20, "the load to be served again")
        for run_id in (sounding, due_after, after):
            judge(system, truth_path, run_id, CIDS)
        heard_during = [r for r in read_truth(truth_path, event="played", run_id=str(sounding))
                        if stopped <= datetime.fromisoformat(r["at"]) <= started]
        assert len(heard_during) == len(SAMPLE), "the run sounded while the database was away"

    assert "holding them" in scheduler.log(), "reports reached the worker while its database was away"
    assert "took the scheduler lock again" in scheduler.log(), "the restart ended the lock's session"
    with pytest.raises(SchedulerLocked):  # the scheduler holds its lock again: no second one could dispatch
        SchedulerLock(private_postgres.url, tmp_path).acquire()
    answers = load.answers
    outage = [a for a in answers if a.status == 503]
    assert {a.status for a in answers} <= {200, 201, 503}, sorted({str(a.status) for a in answers})
    assert outage, "the load never met the outage"
    assert all(a.body["error"]["code"] == "database_unavailable" and a.retry_after for a in outage)
    assert max(a.seconds for a in answers) < REQUEST_BOUND_S
    with system.app.app_context():
        saved = {b.id: len(b.runs) for b in db.session.scalars(
            select(Broadcast).where(Broadcast.title.like("Lịch tiêm chủng %")))}
        db.session.remove()
    assert set(load.accepted) <= set(saved), "a broadcast answered 201 was lost in the restart"
    assert all(saved.values()), "a broadcast was saved without its runs"
    log.warning("load: %d answers (%d × 503), %d broadcasts accepted, %d saved", len(answers), len(outage),
                len(load.accepted), len(saved))
