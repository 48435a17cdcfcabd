"""A run report that follows the run: the filters of its cluster list, and what the page asks every 2 s."""

from flask import request, url_for
from flask_babel import gettext as _

from pa_controller.services import run_progress
from pa_controller.web.apidoc import load
from pa_controller.web.formatting import local_time
from pa_controller.web.labels import delivery_reason, label
from pa_controller.web.schemas.requests import RunClustersQuery

POLL_MS = 2000


def cluster_query() -> run_progress.ClusterQuery:
    """Read the list's filters; an empty choice ("every ward") is no filter."""
    values = load(RunClustersQuery(), {key: value for key, value in request.args.items() if value != ""})
    return run_progress.ClusterQuery(ward=values.get("ward") or None, state=values["state"], page=values["page"])


def progress_json(progress: run_progress.RunProgress, page: run_progress.ClusterPage, ward_names: dict) -> dict:
    """What the page redraws: the headline, counts by state and by ward, and the clusters of the page shown."""
    return {
        "run": progress.run.id, "state": progress.run.state.value, "state_label": label(progress.run.state),
        "headline": _("%(done)s/%(total)s đã phát xong", done=progress.done, total=progress.total),
        "final": progress.final, "done": progress.done, "total": progress.total, "not_played": progress.not_played,
        "counts": [{"state": state.value, "label": label(state), "n": n} for state, n in progress.counts.most_common()],
        "by_ward": [{"ward": ward, "name": ward_names.get(ward, ward), "done": counts["done"],
                     "total": counts.total()} for ward, counts in sorted(progress.by_ward.items())],
        "clusters": [cluster_row(delivery, cluster, ward_names) for delivery, cluster in page.rows],
        "cluster_summary": _("%(total)s cụm · trang %(page)s/%(pages)s", total=page.total, page=page.query.page,
                             pages=page.pages),
        "next_poll_ms": None if progress.final else POLL_MS,
        "url": url_for("broadcasts.run_report_live", run_id=progress.run.id, **page.query.args()),
    }


def cluster_row(delivery, cluster, ward_names: dict) -> dict:
    return {"id": cluster.id, "name": cluster.name, "ward": ward_names.get(cluster.ward_id, cluster.ward_id),
            "state": delivery.state.value, "state_label": label(delivery.state),
            "not_played": delivery.state in run_progress.NOT_PLAYED,
            "reason": delivery_reason(delivery.state, delivery.detail), "shown_time": local_time(delivery.at)}
