"""Migration 0015 moves wards into user_ward and gives tokens scopes and an expiry, and back, with data."""

from datetime import UTC, datetime, timedelta

from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

PEOPLE = (("admin", "admin", None), ("canbo", "officer", "thoi-hoa"), ("kythuat", "technician", None))


def before_0015() -> str:
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
    return script.get_revision("0015").down_revision


def rows(sql: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_wards_and_tokens_survive_the_migration_both_ways(seeded):
    downgrade(revision=before_0015())
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        for n, (username, role, ward) in enumerate(PEOPLE, start=1):
            connection.execute(text(
                "INSERT INTO \"user\" (id, username, password_hash, role, ward_id, active, created_at) "
                "VALUES (:id, :u, 'x', :r, :w, :a, :t)"), {"id": n, "u": username, "r": role, "w": ward,
                                                           "a": True, "t": now})
        connection.execute(text("INSERT INTO api_token (user_id, name, token_sha256, created_at) "
                                "VALUES (2, 'script', :digest, :t)"), {"digest": "a" * 64, "t": now})
    upgrade()
    assert rows("SELECT user_id, ward_id FROM user_ward") == [(2, "thoi-hoa")]
    [(scopes, expires_at, revoked_at)] = rows("SELECT scopes, expires_at, revoked_at FROM api_token")
    assert scopes == "read schedule fleet admin" and revoked_at is None
    expires_at = expires_at if isinstance(expires_at, datetime) else datetime.fromisoformat(expires_at)
    assert abs(expires_at.replace(tzinfo=UTC) - (now + timedelta(days=90))) < timedelta(minutes=5)

    with db.engine.begin() as connection:  # what 0012 cannot hold: several wards, new roles, a revoked token
        connection.execute(text("INSERT INTO user_ward (user_id, ward_id) VALUES (2, 'chau-van-liem')"))
        connection.execute(text("UPDATE \"user\" SET role = 'approver' WHERE id = 3"))
        connection.execute(text("INSERT INTO user_ward (user_id, ward_id) VALUES (3, 'long-hung')"))
        connection.execute(text("INSERT INTO \"user\" (id, username, password_hash, role, active, created_at, "
                                "calendar_key_version) VALUES (4, 'xem', 'x', 'viewer', :a, :t, 0)"),
                           {"a": True, "t": now})
        connection.execute(text("INSERT INTO api_token (user_id, name, token_sha256, scopes, created_at, "
                                "expires_at, revoked_at) VALUES (2, 'old', :d, 'read', :t, :e, :t)"),
                           {"d": "b" * 64, "t": now, "e": now + timedelta(days=1)})
    downgrade(revision=before_0015())
    people = rows("SELECT username, role, ward_id, active FROM \"user\" ORDER BY id")
    assert [(u, r, w, bool(a)) for u, r, w, a in people] == [
        ("admin", "admin", None, True), ("canbo", "officer", "chau-van-liem", True),
        ("kythuat", "officer", "long-hung", False), ("xem", "technician", None, False)]
    assert rows("SELECT name FROM api_token") == [("script",)], "a revoked token must not come back to life"
    upgrade()
    assert rows("SELECT user_id, ward_id FROM user_ward ORDER BY user_id") == [(2, "chau-van-liem"),
                                                                             (3, "long-hung")]
