"""Every report the controller refuses is counted for the district, whatever topic it came on: a cluster in the
registry, one not in it, or a topic that names no cluster. A cluster's own counts hold only its topic's."""

import json
from datetime import UTC, datetime

from pa_controller.extensions import db
from pa_controller.messaging.inbox import UNREADABLE
from pa_controller.models import FleetRefusalCount
from pa_controller.services import ingest, refusals
from pa_controller.services.report_writer import ReportWriter
from pa_protocol import format_time
from tests.factories import event

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
STRANGER = "om-nowhere-9"


def status(cid: str) -> tuple[str, dict]:
    return cid, {"v": 1, "cid": cid, "online": True, "boot_id": "b", "at": format_time(T0)}


def heartbeat(cid: str) -> tuple[str, dict]:
    return cid, {"v": 1, "cid": cid, "at": format_time(T0), "boot_id": "b", "seq": 1, "state": "idle"}


def write(app, *batch: tuple[str, str | None, dict]) -> tuple[int, int]:
    return ReportWriter(app, ingest.APPLY_IN_ORDER).write(list(batch), T0)


def test_well_formed_reports_of_a_cluster_not_in_the_registry_are_refused_and_counted_for_the_district(app, seeded):
    stray_event = json.loads(event(STRANGER, "9d3e0f7a-0000-4000-8000-000000000001", "done"))
    applied, unstorable = write(app, ("status", *status(STRANGER)), ("heartbeat", *heartbeat(STRANGER)),
                                ("events", STRANGER, stray_event), ("heartbeat", *heartbeat("om-tho-001")))
    assert (applied, unstorable) == (1, 0)
    assert refusals.of_district() == {"forged_command": {}, "report": {"unknown_cluster": 3}}
    assert refusals.by_kind("om-tho-001") == {"forged_command": {}, "report": {}}


def test_an_unreadable_report_counts_for_its_topics_cluster_and_one_on_no_clusters_topic_for_the_district(app,
                                                                                                          seeded):
    write(app, (UNREADABLE, "om-tho-001", {"reason": "malformed"}), (UNREADABLE, STRANGER, {"reason": "wrong_cluster"}),
          (UNREADABLE, None, {"reason": "malformed"}), (UNREADABLE, None, {"reason": "malformed"}))
    assert refusals.by_kind("om-tho-001")["report"] == {"malformed": 1}
    assert refusals.of_district()["report"] == {"bad_topic": 2, "malformed": 1, "wrong_cluster": 1}
    assert refusals.total(refusals.of_district()) == 4


def test_the_district_counts_add_up_across_batches_and_keep_first_and_latest_times(app, seeded):
    for _ in range(3):
        write(app, (UNREADABLE, None, {"reason": "malformed"}))
    row = db.session.get(FleetRefusalCount, ("report", "bad_topic"))
    assert (row.count, row.first_at, row.last_at) == (3, T0, T0)


def test_each_batch_of_refusals_is_logged_in_one_line_with_its_count(app, seeded, caplog):
    write(app, *[(UNREADABLE, None, {"reason": "malformed"})] * 7, ("status", *status(STRANGER)))
    lines = sorted(r.getMessage() for r in caplog.records if r.name == "pa_controller.services.refusals")
    assert len(lines) == 2, "one line a kind of report in the batch, not one a report"
    assert "refused 1 report(s)" in lines[0] and STRANGER in lines[0] and "report unknown_cluster ×1" in lines[0]
    assert "refused 7 report(s)" in lines[1] and "report bad_topic ×7" in lines[1]
