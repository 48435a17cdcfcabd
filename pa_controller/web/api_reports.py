"""API v1: the reports sent upward, as the pages show them."""

from flask import g, jsonify

from pa_controller.domain import Scope
from pa_controller.services import airtime
from pa_controller.web import shapes
from pa_controller.web.api import authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1", description="Reports")


@bp.get("/reports/airtime")
@authenticated(Scope.READ)
@bp.arguments(q.MonthQuery, location="query", as_kwargs=True)
@bp.response(200, r.Airtime)
def airtime_report(month=None):
    """A month's airtime per ward (Asia/Ho_Chi_Minh): your wards, or every ward and the district."""
    return jsonify(shapes.airtime(airtime.month_report(g.user, airtime.Month.parse(month))))
