"""The JSON API v1 for technicians and administrators: remote commands, and managing the fleet."""

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _

from pa_controller import clock
from pa_controller.errors import ValidationFailed
from pa_controller.services import fleet, fleet_admin, remote
from pa_controller.web import shapes
from pa_controller.web.api import authenticated, int_arg, json_body
from pa_controller.web.formatting import utc

bp = Blueprint("api_fleet", __name__, url_prefix="/api/v1")
CSV_TYPES = {"text/csv", "application/csv", "text/plain"}


def command_shape(c, now) -> dict:
    return {
        "id": c.id, "cmd_id": c.cmd_id, "cluster": c.cluster_id, "type": c.type.value, "params": c.params or {},
        "state": remote.effective_state(c, now).value, "at": utc(c.at), "detail": c.detail or {},
        "amp_ok": remote.amp_ok(c), "issued_at": utc(c.issued_at), "issued_by": c.issued_by,
        "expires_at": utc(c.issued_at + remote.COMMAND_TTL),
    }


def cluster_shape(c) -> dict:
    status = fleet.effective_status(c.state, clock.now(), current_app.config["HEARTBEAT_S"])
    return {**shapes.cluster_detail(c, status), "retired": c.retired}


@bp.post("/commands")
@authenticated
def send_commands():
    sent = remote.send_request(g.user, json_body())
    now = clock.now()
    return jsonify([command_shape(c, now) for c in sent]), 202


@bp.get("/commands")
@authenticated
def list_commands():
    limit = int_arg("limit")
    found = remote.list_commands(g.user, request.args.get("cluster") or None, 100 if limit is None else limit)
    now = clock.now()
    return jsonify([command_shape(c, now) for c in found])


@bp.get("/commands/<int:command_id>")
@authenticated
def get_command(command_id: int):
    return jsonify(command_shape(remote.get_command(g.user, command_id), clock.now()))


@bp.post("/clusters")
@authenticated
def add_cluster():
    return jsonify(cluster_shape(fleet_admin.add_cluster(g.user, json_body()))), 201


@bp.patch("/clusters/<cid>")
@authenticated
def update_cluster(cid: str):
    return jsonify(cluster_shape(fleet_admin.update_cluster(g.user, cid, json_body())))


@bp.delete("/clusters/<cid>")
@authenticated
def retire_cluster(cid: str):
    return jsonify(cluster_shape(fleet_admin.retire_cluster(g.user, cid)))


@bp.get("/clusters.csv")
@authenticated
def export_clusters():
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
@authenticated
def import_clusters():
    fleet_admin.require_admin(g.user)  # before reading what may be a large upload
    result = fleet_admin.import_fleet(g.user, _uploaded_csv())
    return jsonify({"wards": result.wards, "clusters": result.clusters, "speakers": result.speakers})


@bp.post("/wards/merge")
@authenticated
def merge_wards():
    merged = fleet_admin.merge_wards(g.user, json_body())
    return jsonify({"from": merged.from_ward, "into": merged.into_ward, "moved": merged.moved,
                    "in_service": merged.in_service, "officers_left": merged.officers,
                    "broadcasts_naming_from": merged.broadcasts})
