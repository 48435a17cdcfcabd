"""The incidents page: what is wrong in the fleet now, acknowledged and closed by technicians."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from pa_controller.errors import ServiceError
from pa_controller.models import Incident
from pa_controller.services import access, alerts, incident_wording
from pa_controller.web.formatting import local_time

bp = Blueprint("incidents", __name__)


@bp.app_template_filter("wording")
def wording(incident: Incident) -> str:
    """Say what an incident is about in the reader's language, naming its cluster and ward, at local time."""
    return incident_wording.sentence(incident, stamp=local_time, _=_markup_message, name=_data_name)


def _markup_message(message: str, **values) -> Markup:
    """Translate a message and fill it in as markup, so the names in it keep their `lang` marks."""
    # The message is escaped before it is marked safe, and `%` escapes every value that is not markup already.
    return Markup(escape(_(message))) % values  # nosec B704


def _data_name(name: str) -> Markup:
    """Mark a ward's or cluster's name as Vietnamese data, which an English page shows as it is written."""
    return Markup('<span lang="vi">{}</span>').format(name)


@bp.get("/incidents")
@login_required
def incidents():
    recent = [i for i in alerts.list_incidents(current_user, open_only=False, limit=50) if i.closed_at]
    return render_template("incidents.html", open=alerts.list_incidents(current_user), recent=recent,
                           can_handle=current_user.role in alerts.WATCHERS)


@bp.post("/incidents/<int:incident_id>/<any(ack, close):action>")
@login_required
def handle(incident_id: int, action: str):
    access.require_role(current_user, *alerts.WATCHERS)  # refused outright: these buttons are not on their page
    alerts.get_incident(current_user, incident_id)
    try:
        (alerts.acknowledge if action == "ack" else alerts.close)(current_user, incident_id)
    except ServiceError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Đã ghi nhận.") if action == "ack" else _("Đã đóng sự cố."), "ok")
    return redirect(url_for("incidents.incidents"))
