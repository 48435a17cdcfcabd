"""The officer's broadcast pages: list, schedule, see, edit and cancel broadcasts, and each run's report."""

from datetime import timedelta

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from pa_controller import clock, settings
from pa_controller.domain import ApprovalState
from pa_controller.errors import ServiceError
from pa_controller.services import (
    access,
    approvals,
    broadcast_search,
    broadcasts,
    fleet,
    groups,
    media,
    reach,
    reports,
    run_progress,
)
from pa_controller.web import run_live, target_map
from pa_controller.web.apidoc import load
from pa_controller.web.broadcast_form import (
    REPEAT_LABELS,
    copy_values,
    describe_repeat,
    form_values,
    reach_sentence,
    request_body,
)
from pa_controller.web.errors import json_error
from pa_controller.web.formatting import local_time
from pa_controller.web.schemas.requests import BroadcastEdit, BroadcastListQuery, BroadcastRequest, TargetsQuery
from pa_protocol import DeliveryState, Priority, RunState

bp = Blueprint("broadcasts", __name__)
CANCELLABLE = (RunState.SCHEDULED, RunState.DISPATCHED)
DRAFT_BUTTONS = {"draft": {"draft": True}, "submit": {"draft": False}}  # an officer's "Lưu nháp" and "Gửi duyệt"


@bp.app_context_processor
def _helpers() -> dict:
    return {"describe_repeat": describe_repeat, "reach_sentence": reach_sentence}


def _ward_names() -> dict[str, str]:
    return {w.id: w.name for w in fleet.wards_for(None)}


@bp.get("/broadcasts")
@login_required
def broadcast_list():
    found = broadcast_search.search(current_user, broadcast_search.BroadcastQuery(**load(BroadcastListQuery(),
                                                                                        request.args)))
    return render_template("broadcasts.html", page=found, wards=fleet.wards_for(access.ward_scope(current_user)),
                           states=list(RunState), ward_names=_ward_names(), now=clock.now(),
                           may_change={b.id for b in found.broadcasts if broadcasts.may_change(current_user, b)})


def _form_page(form: MultiDict, broadcast=None, status: int = 200, review=None, problem: ServiceError | None = None,
               copying=None):
    default_clip = media.last_upload(current_user)
    if "audio_id" not in form and default_clip is not None:
        form = MultiDict([*form.items(multi=True), ("audio_id", str(default_clip.id))])
    scope = access.ward_scope(current_user)
    wards = fleet.wards_for(scope)
    clusters = fleet.active_clusters(sorted(scope) if scope is not None else None)
    offered = groups.list_groups(current_user)
    view, dots = target_map.draw(clusters, wards, offered)
    return render_template("broadcast_form.html", wards=wards, groups=offered,
                           clusters=clusters, view=view, dots=dots,
                           clips=media.library(current_user), form=form, priorities=list(Priority),
                           repeats=REPEAT_LABELS, review=review, problem=problem, broadcast=broadcast,
                           ward_names=_ward_names(), copying=copying,
                           checked_note=checked_until_sentence(review.checked_until)
                           if review is not None and review.checked_until is not None else None), status


def checked_until_sentence(at) -> str:
    """Say where the check of a series that goes on stopped (services.broadcasts.Review.checked_until)."""
    return _("Đã kiểm tra trùng giờ và quy định phát của các lượt đến %(at)s; các lượt sau đó chưa được kiểm tra. "
             "Hãy đặt ngày kết thúc nếu chuỗi phát có hạn.", at=local_time(at, "%d/%m/%Y"))


def _saved(broadcast, found, verb: str):
    """Say what was saved and when it first sounds (or that it waits for approval), and where the check of a
    series that goes on stopped; then show the broadcast."""
    if found.checked_until is not None:
        flash(checked_until_sentence(found.checked_until), "note")
    if broadcast.approval is not ApprovalState.APPROVED:
        flash(_("Đã lưu nháp “%(title)s”.", title=broadcast.title) if broadcast.approval is ApprovalState.DRAFT
              else _("Đã gửi “%(title)s” cho người duyệt; bản tin chỉ được phát sau khi được duyệt.",
                     title=broadcast.title), "ok")
        return redirect(url_for("broadcasts.broadcast_page", broadcast_id=broadcast.id))
    first = min((r.start_at for r in broadcast.runs if r.state in CANCELLABLE), default=None)
    if first is not None and first <= clock.now() + timedelta(minutes=1):
        seconds = max(0, round((first - clock.now()).total_seconds()))
        flash(_("“%(title)s” sẽ phát lúc %(at)s (sau %(n)s giây).", title=broadcast.title,
                at=local_time(first, "%H:%M:%S"), n=seconds), "ok")
    elif first is not None:
        flash(_("%(verb)s “%(title)s”. Lượt phát đầu: %(at)s.", verb=verb, title=broadcast.title,
                at=local_time(first, "%H:%M %d/%m/%Y")), "ok")
    else:
        flash(_("%(verb)s “%(title)s”.", verb=verb, title=broadcast.title), "ok")
    return redirect(url_for("broadcasts.broadcast_page", broadcast_id=broadcast.id))


def _submit(form: MultiDict, broadcast=None, copying=None):
    """Check (the Kiểm tra button) or save the form; on a refusal show it again with the reason."""
    broadcast_id = broadcast.id if broadcast is not None else None
    try:  # through the API's schema, so the page and the API cannot disagree
        body = load(BroadcastRequest() if broadcast is None else BroadcastEdit(), request_body(form))
        body |= DRAFT_BUTTONS.get(form.get("action"), {})
        if form.get("action") == "check":
            return _form_page(form, broadcast, review=broadcasts.review(current_user, body, broadcast_id),
                              copying=copying)
        if copying is not None:
            return _saved(*broadcasts.duplicate_broadcast(current_user, copying.id, body), _("Đã nhân bản"))
        if broadcast is None:
            return _saved(*broadcasts.create_broadcast(current_user, body), _("Đã lên lịch"))
        return _saved(*broadcasts.update_broadcast(current_user, broadcast.id, body), _("Đã lưu thay đổi"))
    except ServiceError as exc:  # shown above the form, with the conflicts or broken rules it names
        return _form_page(form, broadcast, exc.status, problem=exc, copying=copying)


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@login_required
def new_broadcast():
    access.require_role(current_user, *access.SCHEDULERS)
    if request.method == "GET":
        return _form_page(MultiDict())
    return _submit(request.form)


@bp.get("/broadcasts/targets/count")
@login_required
def count_targets():
    """The form's line "Sẽ phát trên 57 cụm loa…", as JSON for targets.js, kept current as the targets change."""
    try:
        access.require_role(current_user, *access.SCHEDULERS)
        asked = {key: request.args.getlist(key) for key in ("wards", "groups", "clusters") if key in request.args}
        targets = load(TargetsQuery(), {**asked, **({"all": request.args["all"]} if "all" in request.args else {})})
        found = reach.of_targets(current_user, targets, clock.now(), settings.current().heartbeat_s)
    except ServiceError as exc:
        return json_error(exc.status, exc.code, exc.message, exc.fields)
    return {**found.describe(), "text": reach_sentence(found)}


@bp.get("/broadcasts/<int:broadcast_id>")
@login_required
def broadcast_page(broadcast_id: int):
    return render_broadcast(broadcast_id)


def render_broadcast(broadcast_id: int, status: int = 200):
    """The broadcast's page: what, where, when, where its approval stands, and its runs."""
    broadcast = broadcasts.get_broadcast(current_user, broadcast_id)
    runs = reports.list_runs(current_user, broadcast_id, limit=50)
    return render_template("broadcast.html", broadcast=broadcast, runs=runs, ward_names=_ward_names(),
                           may_change=broadcasts.may_change(current_user, broadcast), cancellable=CANCELLABLE,
                           may_decide=approvals.may_decide(current_user, broadcast),
                           latest_step=approvals.latest(broadcast),
                           next_runs=broadcast.schedule.next(clock.now(), 5) if not broadcast.cancelled_at else []
                           ), status


def _changeable(broadcast_id: int):
    """The broadcast behind an edit or a copy form: one the user schedules for, in their wards alone."""
    access.require_role(current_user, *access.SCHEDULERS)
    return broadcasts.editable_broadcast(current_user, broadcast_id)


@bp.route("/broadcasts/<int:broadcast_id>/edit", methods=["GET", "POST"])
@login_required
def edit_broadcast(broadcast_id: int):
    broadcast = _changeable(broadcast_id)
    if request.method == "GET":
        return _form_page(form_values(broadcast), broadcast)
    return _submit(request.form, broadcast)


@bp.route("/broadcasts/<int:broadcast_id>/duplicate", methods=["GET", "POST"])
@login_required
def duplicate_broadcast(broadcast_id: int):
    source = _changeable(broadcast_id)
    if request.method == "GET":
        return _form_page(copy_values(source, broadcasts.copy_start(source, clock.now())), copying=source)
    return _submit(request.form, copying=source)


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@login_required
def cancel_broadcast(broadcast_id: int):
    broadcast = broadcasts.cancel_broadcast(current_user, broadcast_id)
    flash(_("Đã hủy “%(title)s”: các lượt chưa phát sẽ không phát, lượt đang phát được dừng.",
            title=broadcast.title), "ok")
    return redirect(url_for("broadcasts.broadcast_page", broadcast_id=broadcast.id))


@bp.post("/runs/<int:run_id>/cancel")
@login_required
def cancel_run(run_id: int):
    run = broadcasts.cancel_run(current_user, reports.get_run(current_user, run_id))
    flash(_("Đã hủy lượt phát lúc %(at)s.", at=local_time(run.start_at, "%H:%M %d/%m/%Y")), "ok")
    return redirect(url_for("broadcasts.broadcast_page", broadcast_id=run.broadcast_id))


@bp.get("/runs/<int:run_id>")
@login_required
def run_report(run_id: int):
    progress, page, names = _run_state(run_id)
    rows = [run_live.cluster_row(delivery, cluster, names) for delivery, cluster in page.rows]
    return render_template("run.html", progress=progress, page=page, rows=rows, ward_names=names,
                           live=run_live.progress_json(progress, page, names), states=list(DeliveryState))


@bp.get("/runs/<int:run_id>/progress")
@login_required
def run_report_live(run_id: int):
    """What the run report page asks every 2 s while the run goes on."""
    return jsonify(run_live.progress_json(*_run_state(run_id)))


def _run_state(run_id: int):
    query = run_live.cluster_query()
    progress = run_progress.progress(current_user, run_id)  # refuses first if the run is none of the user's
    return progress, run_progress.clusters(current_user, run_id, query), _ward_names()
