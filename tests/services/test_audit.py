"""The audit log: one entry per change, naming who acted and from where, and nothing can rewrite it."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from pa_controller.extensions import db
from pa_controller.models import AuditEntry
from pa_controller.services import audit


def test_an_entry_lands_with_the_change_it_describes(app):
    with audit.acting_as(audit.Actor("canbo", 7, "10.0.0.9")):
        audit.record("broadcast.edit", "broadcast:3", ward_id="thoi-hoa", before={"title": "A"}, after={"title": "B"})
    db.session.rollback()  # the change was abandoned: so is its entry
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    with audit.acting_as(audit.Actor("canbo", 7, "10.0.0.9")):
        audit.record("broadcast.edit", "broadcast:3", ward_id="thoi-hoa", before={"title": "A"}, after={"title": "B"})
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.user_id, entry.address, entry.action, entry.target, entry.ward_id) == (
        "canbo", 7, "10.0.0.9", "broadcast.edit", "broadcast:3", "thoi-hoa")
    assert entry.detail == {"before": {"title": "A"}, "after": {"title": "B"}}
    assert audit.record_now("login.failed").actor == "system"  # outside any request or command


def test_the_application_cannot_rewrite_or_erase_an_entry(app):
    entry = audit.record_now("user.create", "user:x")
    entry.action = "nothing.happened"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    for statement in ("UPDATE audit_entry SET action = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalars(select(AuditEntry.action)).all() == ["user.create"]


def test_changed_keeps_only_what_an_edit_changed():
    assert audit.changed({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == ({"b": 2, "c": None}, {"b": 3, "c": 4})


def test_stop_all_names_who_asked_from_where(client, admin_auth):
    response = client.post("/api/v1/stop-all", headers=admin_auth, json={"reason": "Báo nhầm"},
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 202
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "stop_all")).one()
    assert (entry.actor, entry.address, entry.detail["reason"]) == ("admin", "10.1.2.3", "Báo nhầm")


def test_a_request_s_actor_ends_with_the_request(client, admin_auth):
    client.get("/api/v1/wards", headers=admin_auth)
    assert audit.current_actor() == audit.SYSTEM  # what runs next on this thread is not that request


def test_a_command_s_actor_ends_with_the_command(app):
    assert app.test_cli_runner().invoke(args=["pa", "keys", "list"]).exit_code == 0
    assert audit.current_actor() == audit.SYSTEM  # a test or a request run next on this thread is not that command
