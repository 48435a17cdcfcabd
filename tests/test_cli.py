"""`flask pa …`: the fleet import and the bootstrap that `make run` relies on."""

import stat

from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import ApiToken, Cluster, User
from tests.conftest import FLEET_CSV


def test_fleet_import_reports_what_it_imported(app):
    result = app.test_cli_runner().invoke(args=["pa", "fleet", "import", str(FLEET_CSV)])
    assert result.exit_code == 0
    assert "imported 456 clusters (928 speakers) in 7 wards" in result.output


def test_a_bad_fleet_file_fails_with_its_row_errors_and_imports_nothing(app, tmp_path):
    bad = tmp_path / "fleet.csv"
    bad.write_text("id,name,ward_id,ward_name,lat,lon,speakers\nok-1,A,w,W,10,105,2\nBAD ID,B,w,W,10,105,2\n")
    result = app.test_cli_runner().invoke(args=["pa", "fleet", "import", str(bad)])
    assert result.exit_code != 0
    assert "dòng 3: id “BAD ID”" in result.output and "chưa nhập gì cả" in result.output
    assert db.session.scalar(select(func.count()).select_from(Cluster)) == 0


def test_bootstrap_creates_one_admin_and_one_private_token_file(app, tmp_path):
    token_file = tmp_path / "bootstrap-token"
    runner = app.test_cli_runner()
    for _ in range(2):
        assert runner.invoke(args=["pa", "bootstrap", "--token-file", str(token_file)]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    live = select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
    assert db.session.scalar(live) == 1, "the older bootstrap token is revoked"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "admin-password").stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert app.test_client().get("/api/v1/wards", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_make_runs_bootstrap_adds_an_officer_an_approver_and_a_technician_once_who_can_log_in(seeded, tmp_path):
    token_file = tmp_path / "bootstrap-token"
    runner = seeded.test_cli_runner()
    for _ in range(2):
        assert runner.invoke(args=["pa", "bootstrap", "--token-file", str(token_file), "--demo-users"]).exit_code == 0
    lines = (tmp_path / "demo-users").read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [["canbo-thoihoa", "officer", "thoi-hoa"],
                                                     ["duyet-thoihoa", "approver", "thoi-hoa"],
                                                     ["kythuat", "technician", "-"]]
    assert stat.S_IMODE((tmp_path / "demo-users").stat().st_mode) == 0o600
    client = seeded.test_client()
    username, _role, _ward, password = lines[0].split()
    assert client.post("/login", data={"username": username, "password": password}).status_code == 302
