"""What an incident says, one sentence per kind: stored in Vietnamese for the webhook, translated on the pages.

The sentences are Flask-Babel messages and their msgids are Vietnamese, so a message left untranslated is its own
Vietnamese text: the fleet watch stores them through `vietnamese`, the web layer passes flask_babel.gettext. Either
way they name the cluster and the ward, never their ids, and give times in Asia/Ho_Chi_Minh.
"""

from collections.abc import Callable
from datetime import datetime

from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import IncidentKind, OutageCause
from pa_controller.models import Incident


def vietnamese(message: str, **values) -> str:
    """Fill in a message as its Vietnamese msgid says, as gettext does when it has no translation."""
    return message % values if values else message


def local_stamp(moment: datetime) -> str:
    """Render a time for a text that leaves the controller: local, 24-hour, with its offset."""
    local = moment.astimezone(LOCAL_ZONE)
    offset = local.strftime("%z")
    return f"{local:%H:%M:%S %d/%m/%Y} {offset[:3]}{'' if offset.endswith('00') else ':' + offset[3:]}"


def sentence(incident: Incident, *, stamp: Callable[[datetime], str] = local_stamp,
             _: Callable[..., str] = vietnamese, name: Callable[[str], str] = str) -> str:
    """Say what an incident is about from its kind, cluster, ward, outage and detail (names passed through `name`)."""
    detail = incident.detail or {}
    ward = name(incident.ward.name if incident.ward else incident.ward_id)
    if incident.kind == IncidentKind.WARD_OUTAGE:
        return _("Phường %(ward)s: %(offline)s trên %(clusters)s cụm mất kết nối cùng lúc", ward=ward,
                 offline=detail.get("offline", "?"), clusters=detail.get("clusters", "?"))
    cluster = name(incident.cluster.name if incident.cluster else incident.cluster_id)
    place = _("%(cluster)s, phường %(ward)s", cluster=cluster, ward=ward)
    if incident.kind == IncidentKind.SPEAKER_FAULT:
        return _("%(place)s: %(ok)s trên %(total)s loa hoạt động", place=place,
                 ok=detail.get("speakers_ok", "?"), total=detail.get("speakers_total", "?"))
    if incident.kind == IncidentKind.AMPLIFIER_FAULT:
        return _("%(place)s: bộ khuếch đại không có dòng điện", place=place)
    outage = incident.outage
    if outage is None:
        return place
    if outage.cause == OutageCause.SILENT:
        return _("%(place)s không gửi nhịp tim từ %(since)s", place=place, since=stamp(outage.started_at))
    return _("%(place)s mất kết nối lúc %(since)s", place=place, since=stamp(outage.started_at))
