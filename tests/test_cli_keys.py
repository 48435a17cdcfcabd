"""`flask pa keys …`: the command keys an operator creates, lists, rotates and activates, each audited."""

from sqlalchemy import select

from pa_controller.extensions import db
from pa_controller.models import AuditEntry
from pa_controller.services import command_keys
from pa_controller.settings import of as settings_of


def keys(app, *args: str):
    return app.test_cli_runner().invoke(args=["pa", "keys", *args])


def test_a_rotation_from_the_command_line_init_rotate_activate_list(app):
    created = keys(app, "init")
    assert created.exit_code == 0 and "created command key" in created.output and "mode 600" in created.output
    assert "is current already" in keys(app, "init").output
    first = command_keys.current_key().kid
    rotated = keys(app, "rotate")
    assert rotated.exit_code == 0 and f"(seq 2), endorsed by {first}" in rotated.output
    activated = keys(app, "activate")
    assert activated.exit_code == 0 and f"key {first} is retired" in activated.output
    listed = keys(app, "list").output.splitlines()
    assert listed[0].split()[:3] == ["seq", "id", "state"]
    assert [line.split()[:3:2] for line in listed[1:]] == [["1", "retired"], ["2", "current"]]
    assert all(line.rstrip().endswith("present") for line in listed[1:])
    actors = set(db.session.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("command_key.%"))))
    assert len(actors) == 1 and actors.pop().startswith("cli:")


def test_what_cannot_be_done_now_exits_1_saying_what_to_run(app):
    assert "flask pa keys init" in keys(app, "rotate").output
    keys(app, "init")
    refused = keys(app, "activate")
    assert refused.exit_code == 1 and "flask pa keys rotate" in refused.output
    keys(app, "rotate")
    assert "flask pa keys activate" in keys(app, "rotate").output


def test_a_missing_key_file_is_listed_and_named_when_it_is_needed(app):
    keys(app, "init")
    kid = command_keys.current_key().kid
    path = settings_of(app).key_dir / f"{kid}.pem"
    path.unlink()
    assert keys(app, "list").output.splitlines()[1].rstrip().endswith("MISSING")
    refused = keys(app, "rotate")
    assert refused.exit_code == 1 and str(path) in refused.output and "restore PA_KEY_DIR" in refused.output


def test_bootstrap_makes_sure_a_command_key_exists_once(app, tmp_path):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["pa", "bootstrap", "--token-file", str(tmp_path / "bootstrap-token")])
    assert first.exit_code == 0 and "command key" in first.output
    again = runner.invoke(args=["pa", "bootstrap", "--token-file", str(tmp_path / "bootstrap-token")])
    assert again.exit_code == 0 and "command key" not in again.output
    assert len(command_keys.all_keys()) == 1


def test_init_signs_again_what_does_not_verify_and_list_says_what_does_not(app):
    keys(app, "init")
    keys(app, "rotate")
    following = command_keys.all_keys()[-1]
    following.signature = "A" * 86  # as migration 0017 leaves an endorsement: verifying no more
    db.session.commit()
    assert f"does not verify: the endorsement of key {following.kid} (seq 2)" in keys(app, "list").output
    again = keys(app, "init")
    assert again.exit_code == 0 and f"signed again: the endorsement of key {following.kid} (seq 2)" in again.output
    assert "does not verify" not in keys(app, "list").output


def test_init_warns_naming_what_it_cannot_sign_again_and_the_current_key_still_signs(app):
    keys(app, "init")
    first = command_keys.current_key().kid
    keys(app, "rotate")
    following = command_keys.all_keys()[-1]
    following.signature = "A" * 86
    db.session.commit()
    (settings_of(app).key_dir / f"{first}.pem").unlink()
    warned = keys(app, "init")
    assert warned.exit_code == 0 and "is current already" in warned.output
    assert f"warning: the endorsement of key {following.kid} (seq 2)" in warned.output
    assert f"{first}.pem" in warned.output and "cannot learn them" in warned.output
