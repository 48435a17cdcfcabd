"""GET /api/v1/keys/commands: the public keys any firmware can fetch, without a token."""

from datetime import timedelta

from pa_controller import clock
from pa_controller.services import command_keys
from pa_controller.settings import of as settings_of
from pa_protocol.signing import KeyRing, sign_command


def test_the_key_list_needs_no_token_and_verifies_what_the_controller_signs(client, command_key):
    answer = client.get("/api/v1/keys/commands")
    assert answer.status_code == 200
    [entry] = answer.get_json()
    assert entry == {"id": command_key.kid, "public_key": command_key.public_key, "state": "current",
                     "signed_by": command_key.kid, "signature": entry["signature"]}
    now = clock.now()
    command = {"v": 1, "id": "c0ffee00-0000-4000-8000-000000000002", "cid": "om-tho-001", "type": "reboot",
               "issued_at": now.isoformat(), "expires_at": (now + timedelta(minutes=5)).isoformat()}
    assert KeyRing.provisioned(answer.get_json()).verify(sign_command(command, command_key), now.timestamp()) is None


def test_the_key_list_shows_a_rotation_as_it_happens(client, seeded, command_key):
    files = command_keys.KeyFiles(settings_of(seeded).key_dir)
    following = command_keys.rotate(files)
    assert [e["state"] for e in client.get("/api/v1/keys/commands").get_json()] == ["current", "next"]
    command_keys.activate(files)
    retired, current = client.get("/api/v1/keys/commands").get_json()
    assert (retired["state"], retired["signed_by"], current["id"]) == ("retired", following.kid, following.kid)
    assert "not_after" in retired


def test_before_any_key_exists_the_list_is_empty_not_an_error(client):
    answer = client.get("/api/v1/keys/commands")
    assert answer.status_code == 200 and answer.get_json() == []
