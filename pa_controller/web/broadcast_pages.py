"""The officer's broadcast pages: list, schedule, see, edit and cancel broadcasts, and each run's report."""

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from pa_controller import clock, settings
from pa_controller.errors import ServiceError
from pa_controller.services import access, broadcasts, fleet, groups, media, reach, reports
from pa_controller.web import target_map
from pa_controller.web.apidoc import load
from pa_controller.web.broadcast_form import REPEAT_LABELS, describe_repeat, form_values, reach_sentence, request_body
from pa_controller.web.errors import json_error
from pa_controller.web.formatting import local_time
from pa_controller.web.schemas.requests import BroadcastEdit, BroadcastRequest, TargetsQuery
from pa_protocol import Priority, RunState

bp = Blueprint("broadcasts", __name__)
CANCELLABLE = (RunState.SCHEDULED, RunState.DISPATCHED)


@bp.app_context_processor
def _helpers() -> dict:
    return {"describe_repeat": describe_repeat, "reach_sentence": reach_sentence}


def _ward_names() -> dict[str, str]:
    return {w.id: w.name for w in fleet.wards_for(None)}


@bp.get("/broadcasts")
@login_required
def broadcast_list():
    shown = broadcasts.list_broadcasts(current_user, cancelled=request.args.get("cancelled") == "1")
    return render_template("broadcasts.html", broadcasts=shown, ward_names=_ward_names(), now=clock.now())


def _form_page(form: MultiDict, broadcast=None, status: int = 200, review=None, problem: ServiceError | None = None):
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
                           ward_names=_ward_names()), status


def _saved(broadcast, verb: str):
    """Say what was saved and when it first sounds, then show the broadcast."""
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


def _submit(form: MultiDict, broadcast=None):
    """Check (the Kiểm tra button) or save the form; on a refusal show it again with the reason."""
    broadcast_id = broadcast.id if broadcast is not None else None
    try:  # through the API's schema, so the page and the API cannot disagree
        body = load(BroadcastRequest() if broadcast is None else BroadcastEdit(), request_body(form))
        if form.get("action") == "check":
            return _form_page(form, broadcast, review=broadcasts.review(current_user, body, broadcast_id))
        if broadcast is None:
            saved, _found = broadcasts.create_broadcast(current_user, body)
            return _saved(saved, _("Đã lên lịch"))
        saved, _found = broadcasts.update_broadcast(current_user, broadcast.id, body)
        return _saved(saved, _("Đã lưu thay đổi"))
    except ServiceError as exc:  # shown above the form, with the conflicts or broken rules it names
        return _form_page(form, broadcast, exc.status, problem=exc)


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
    broadcast = broadcasts.get_broadcast(current_user, broadcast_id)
    runs = reports.list_runs(current_user, broadcast_id, limit=50)
    return render_template("broadcast.html", broadcast=broadcast, runs=runs, ward_names=_ward_names(),
                           may_change=broadcasts.may_change(current_user, broadcast), cancellable=CANCELLABLE,
                           next_runs=broadcast.schedule.next(clock.now(), 5) if not broadcast.cancelled_at else [])


@bp.route("/broadcasts/<int:broadcast_id>/edit", methods=["GET", "POST"])
@login_required
def edit_broadcast(broadcast_id: int):
    access.require_role(current_user, *access.SCHEDULERS)
    broadcast = broadcasts.editable_broadcast(current_user, broadcast_id)
    if request.method == "GET":
        return _form_page(form_values(broadcast), broadcast)
    return _submit(request.form, broadcast)


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
    return render_template("run.html", report=reports.run_report(current_user, run_id), ward_names=_ward_names())
