"""The audit log for administrators: who changed what, when and from where; a page and a CSV export."""

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user, login_required

from pa_controller import clock
from pa_controller.services import audit_log, fleet
from pa_controller.web.apidoc import load
from pa_controller.web.schemas.requests import AuditQuery

bp = Blueprint("audit", __name__)


def _query() -> audit_log.AuditQuery:
    values = load(AuditQuery(), request.args)
    return audit_log.AuditQuery(**{key: value or None for key, value in values.items() if key != "page"},
                                page=values["page"])


@bp.get("/audit")
@login_required
def audit_page():
    page = audit_log.search(current_user, _query())
    wards = {ward.id: ward.name for ward in fleet.wards_for(None)}
    return render_template("audit.html", page=page, actions=audit_log.actions(), wards=wards)


@bp.get("/audit.csv")
@login_required
def audit_csv():
    query = _query()
    rows = audit_log.export_csv(current_user, query)
    first = next(rows)  # refuses here, before any byte is sent, if the user may not read the log
    name = f"loanet-audit-{clock.now().astimezone(clock.LOCAL_ZONE):%Y%m%d-%H%M}.csv"
    body = stream_with_context(_chain(first, rows))
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _chain(first: str, rest):
    yield "\ufeff" + first  # a byte order mark: spreadsheet programs then read the Vietnamese as UTF-8
    yield from rest
