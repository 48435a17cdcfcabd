"""The JSON API v1 for technicians and administrators: remote commands, and managing the fleet."""

from flask import Response, g, jsonify, request
from flask_babel import lazy_gettext as _

from pa_controller import clock, settings
from pa_controller.domain import Role, Scope
from pa_controller.errors import ValidationFailed
from pa_controller.services import broker_access, fleet, fleet_admin, refusals, remote
from pa_controller.web import shapes
from pa_controller.web.api import allowed, authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.formatting import utc
from pa_controller.web.schemas import requests as q
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_fleet", __name__, url_prefix="/api/v1", description="Remote commands and fleet management")
CSV_TYPES = {"text/csv", "application/csv", "text/plain"}
NO_STORE = {"Cache-Control": "no-store"}  # an answer carrying a password is kept by no cache


def command_shape(c, now) -> dict:
    return {
        "id": c.id, "cmd_id": c.cmd_id, "cluster": c.cluster_id, "type": c.type.value, "params": c.params or {},
        "state": remote.effective_state(c, now).value, "at": utc(c.at), "detail": c.detail or {},
        "amp_ok": remote.amp_ok(c), "issued_at": utc(c.issued_at), "issued_by": c.issued_by,
        "expires_at": utc(c.issued_at + remote.COMMAND_TTL),
    }


def cluster_shape(c) -> dict:
    status = fleet.effective_status(c.state, clock.now(), settings.current().heartbeat_s)
    return {**shapes.cluster_detail(c, status), "retired": c.retired}


@bp.post("/commands")
@authenticated(Scope.FLEET)
@allowed(*remote.OPERATORS)
@bp.arguments(q.CommandRequest)
@bp.response(202, r.Command(many=True))
def send_commands(body: dict):
    """Send set_volume, test_tone or reboot to clusters or a ward (administrators, technicians)."""
    sent = remote.send_request(g.user, body)
    now = clock.now()
    return jsonify([command_shape(c, now) for c in sent]), 202


@bp.get("/commands")
@authenticated(Scope.READ)
@bp.arguments(q.CommandsQuery, location="query", as_kwargs=True)
@bp.response(200, r.Command(many=True))
def list_commands(cluster=None, limit=100):
    """Remote commands, newest first; officers see their ward's."""
    found = remote.list_commands(g.user, cluster or None, limit)
    now = clock.now()
    return jsonify([command_shape(c, now) for c in found])


@bp.get("/refusals")
@authenticated(Scope.READ)
@bp.response(200, r.Refusals)
def refused_reports():
    """The reports refused so far in the district, by kind and reason: forged commands clusters rejected and
    reports the controller did not apply, on any topic; for readers of the whole district."""
    found = refusals.of_district_for(g.user)
    return jsonify({"refused_reports": refusals.total(found), "refused": found})


@bp.get("/commands/<int:id>")
@authenticated(Scope.READ)
@bp.response(200, r.Command)
def get_command(id: int):
    """One remote command: its state, when, and its detail (a test tone's amp_ok)."""
    return jsonify(command_shape(remote.get_command(g.user, id), clock.now()))


@bp.post("/clusters")
@authenticated(Scope.FLEET)
@allowed(Role.ADMIN)
@bp.arguments(q.ClusterNew)
@bp.response(201, r.EnrolledCluster)
def add_cluster(body: dict):
    """Add a cluster (administrators) with its broker password, shown this once; 409 if the id exists."""
    cluster = fleet_admin.add_cluster(g.user, body)
    issued = broker_access.issue_to(g.user, cluster.id)
    return jsonify({**cluster_shape(cluster), "broker_password": issued.password}), 201, NO_STORE


@bp.post("/clusters/<id>/broker-password")
@authenticated(Scope.FLEET)
@allowed(Role.ADMIN)
@bp.response(201, r.BrokerPassword)
def new_broker_password(id: str):
    """Give a cluster a new broker password (administrators), shown this once; the old one stops working."""
    issued = broker_access.issue_to(g.user, id)
    return jsonify({"cluster": issued.cid, "password": issued.password}), 201, NO_STORE


@bp.patch("/clusters/<id>")
@authenticated(Scope.FLEET)
@allowed(Role.ADMIN)
@bp.arguments(q.ClusterEdit)
@bp.response(200, r.ClusterDetail)
def update_cluster(body: dict, id: str):
    """Edit a cluster (administrators): a new ward moves it; retired: false brings a retired one back."""
    return jsonify(cluster_shape(fleet_admin.update_cluster(g.user, id, body)))


@bp.delete("/clusters/<id>")
@authenticated(Scope.FLEET)
@bp.response(200, r.ClusterDetail)
def retire_cluster(id: str):
    """Retire a cluster (administrators): out of service, history kept; 409 if already retired."""
    return jsonify(cluster_shape(fleet_admin.retire_cluster(g.user, id)))


@bp.get("/clusters.csv")
@authenticated(Scope.READ)
@bp.response(200, {"type": "string"}, content_type="text/csv")
def export_clusters():
    """The clusters in service as CSV in the format of `flask pa fleet import` (administrators)."""
    headers = {"Content-Disposition": 'attachment; filename="loanet-fleet.csv"'}
    return Response(fleet_admin.export_csv(g.user), mimetype="text/csv", headers=headers)


def _uploaded_csv() -> bytes:
    """Read the CSV from multipart field `file` or from a text/csv body, at most one byte past the limit."""
    limit = fleet_admin.MAX_CSV_BYTES + 1
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed(_("Hãy gửi tệp CSV trong trường 'file' (multipart)."), fields={"file": "missing"})
        return upload.stream.read(limit)
    if request.mimetype in CSV_TYPES:
        return request.stream.read(limit)
    raise ValidationFailed(_("Hãy gửi tệp CSV trong trường 'file' (multipart), hoặc làm nội dung với "
                             "Content-Type text/csv."), fields={"file": "missing"})


@bp.post("/clusters/import")
@authenticated(Scope.FLEET)
@bp.response(200, r.ImportResult)
@bp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": q.FleetUpload},
                                                   "text/csv": {"schema": {"type": "string"}}}})
def import_clusters():
    """Import the fleet from CSV (administrators), all or nothing; 422 lists the bad rows in error.errors."""
    fleet_admin.require_admin(g.user)  # before reading what may be a large upload
    result = fleet_admin.import_fleet(g.user, _uploaded_csv())
    return jsonify({"wards": result.wards, "clusters": result.clusters, "speakers": result.speakers})


@bp.post("/wards/merge")
@authenticated(Scope.FLEET)
@allowed(Role.ADMIN)
@bp.arguments(q.WardMerge)
@bp.response(200, r.MergeResult)
def merge_wards(body: dict):
    """Move every cluster of one ward into another (administrators); the emptied ward stays, with its history."""
    merged = fleet_admin.merge_wards(g.user, body)
    return jsonify({"from": merged.from_ward, "into": merged.into_ward, "moved": merged.moved,
                    "in_service": merged.in_service, "officers_left": merged.officers,
                    "broadcasts_naming_from": merged.broadcasts})
