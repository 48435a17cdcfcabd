"""API v1: the controller's command keys, public, so any firmware can fetch what it needs to verify commands."""

from flask import jsonify

from pa_controller.services import command_keys
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_keys", __name__, url_prefix="/api/v1", description="Command keys")


@bp.get("/keys/commands")
@bp.response(200, r.CommandKeyEntry(many=True))
@bp.doc(security=[])
def command_key_list():
    """The Ed25519 public keys that sign commands, each endorsed by the key before it; needs no token."""
    return jsonify(command_keys.published())
