"""API v1: the controller's command keys, public, so any firmware can fetch what it needs to verify commands."""

from flask import jsonify

from pa_controller.services import command_keys
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.schemas import responses as r

bp = Blueprint("api_keys", __name__, url_prefix="/api/v1", description="Command keys")

KEY_LIST = ("The chain of keys: each key is endorsed once by the key of the seq before it (the anchor, seq 1, by "
            "itself), and a retired key's not_after is signed by its successor (docs/protocol.md, \"The key list\"). "
            "In production, fetch it over HTTPS: a cluster that has not filled the next seq yet would take a key "
            "offered for it by whoever answers the fetch and holds an older key.")


@bp.get("/keys/commands")
@bp.response(200, r.CommandKeyEntry(many=True))
@bp.doc(security=[], description=KEY_LIST)
def command_key_list():
    """The Ed25519 public keys that sign commands, in the order of their chain; needs no token."""
    return jsonify(command_keys.published())
