"""Reports sent upward: a month's airtime per ward, as a page, a CSV and a PDF."""

from flask import Blueprint, Response, render_template, request
from flask_login import current_user, login_required

from pa_controller.services import airtime
from pa_controller.web import airtime_export
from pa_controller.web.apidoc import load
from pa_controller.web.schemas.requests import MonthPageQuery

bp = Blueprint("reports", __name__)


def _report() -> airtime.AirtimeReport:
    month = airtime.Month.parse(load(MonthPageQuery(), request.args)["month"])
    return airtime.month_report(current_user, month)


def _attachment(body, mimetype: str, report: airtime.AirtimeReport, extension: str) -> Response:
    name = f"loanet-phut-phat-{report.month}.{extension}"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/reports/airtime")
@login_required
def airtime_page():
    report = _report()
    return render_template("airtime.html", report=report, columns=airtime_export.columns(),
                           lines=[airtime_export.shown(line) for line in airtime_export.lines(report)],
                           definitions=airtime_export.definitions())


@bp.get("/reports/airtime.csv")
@login_required
def airtime_csv():
    report = _report()
    return _attachment(airtime_export.csv_text(report), "text/csv", report, "csv")


@bp.get("/reports/airtime.pdf")
@login_required
def airtime_pdf():
    report = _report()
    return _attachment(airtime_export.pdf_bytes(report), "application/pdf", report, "pdf")
