"""GET /api/v1/keys/commands: the public keys any firmware can fetch, without a token."""

from datetime import timedelta

from pa_controller import clock
from pa_controller.services import command_keys
from pa_controller.settings import of as settings_of
from pa_protocol.key_chain import KeyRing
from pa_protocol.signing import sign_command


def test_the_key_list_needs_no_token_and_verifies_what_the_controller_signs(client, command_key):
    answer = client.get("/api/v1/keys/commands")
    assert answer.status_code == 200
    [entry] = answer.get_json()
    assert entry == {"seq": 1, "id": command_key.kid, "public_key": command_key.public_key, "state": "current",
                     "signed_by": command_key.kid, "signature": entry["signature"]}
    now = clock.now()
    command = {"v": 1, "id": "c0ffee00-0000-4000-8000-000000000002", "cid": "om-tho-001", "type": "reboot",
               "issued_at": now.isoformat(), "expires_at": (now + timedelta(minutes=5)).isoformat()}
    assert KeyRing.provisioned(answer.get_json()).verify(sign_command(command, command_key), now.timestamp()) is None


def test_the_key_list_shows_a_rotation_as_it_happens_and_an_endorsement_never_changes(client, seeded, command_key):
    files = command_keys.KeyFiles(settings_of(seeded).key_dir)
    following = command_keys.rotate(files)
    before = client.get("/api/v1/keys/commands").get_json()
    assert [(e["seq"], e["state"]) for e in before] == [(1, "current"), (2, "next")]
    command_keys.activate(files)
    retired, current = client.get("/api/v1/keys/commands").get_json()
    assert (retired["state"], retired["retired_by"], current["id"]) == ("retired", following.kid, following.kid)
    assert "not_after" in retired and "retirement_signature" in retired
    assert [(e["signed_by"], e["signature"]) for e in (retired, current)] == [
        (e["signed_by"], e["signature"]) for e in before]


def test_the_key_list_is_documented_with_every_field_a_firmware_reads(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schema = document["components"]["schemas"]["CommandKeyEntry"]
    assert {"seq", "id", "public_key", "signed_by", "signature", "not_after", "retired_by",
            "retirement_signature"} <= set(schema["properties"])
    assert "over HTTPS" in document["paths"]["/keys/commands"]["get"]["description"]


def test_before_any_key_exists_the_list_is_empty_not_an_error(client):
    answer = client.get("/api/v1/keys/commands")
    assert answer.status_code == 200 and answer.get_json() == []
