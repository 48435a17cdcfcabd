"""The audio library respects wards: a recording belongs to a ward or to the district, and an officer sees and
uses their ward's and the district's, never another ward's."""

import subprocess

import pytest
from sqlalchemy import select

from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Audio
from tests.conftest import _user_token
from tests.factories import broadcast_request, make_audio
from tests.web.test_pages import log_in


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=550:duration=1", str(path)],
                   check=True)
    return path


@pytest.fixture
def long_hung_auth(seeded):
    return _user_token("officer-long-hung", Role.OFFICER, "long-hung")


def upload(client, auth, wav, **fields):
    with wav.open("rb") as file:
        return client.post("/api/v1/audio", headers=auth, data={"file": (file, "clip.wav"), "title": "Tiêm", **fields})


def test_an_officer_s_upload_belongs_to_their_ward(client, officer_auth, wav):
    answer = upload(client, officer_auth, wav)
    assert answer.status_code == 201 and answer.get_json()["ward"] == "thoi-hoa"


def test_an_administrator_uploads_for_the_district_or_for_a_ward(client, admin_auth, wav):
    assert upload(client, admin_auth, wav).get_json()["ward"] is None
    assert upload(client, admin_auth, wav, ward="long-hung").get_json()["ward"] == "long-hung"
    assert upload(client, admin_auth, wav, ward="no-such-ward").status_code == 422


def test_an_officer_cannot_file_an_upload_under_another_ward(client, officer_auth, wav):
    assert upload(client, officer_auth, wav, ward="long-hung").status_code == 403
    assert db.session.scalar(select(Audio).where(Audio.ward_id == "long-hung")) is None


def test_an_officer_lists_their_ward_s_and_the_district_s_clips_only(client, officer_auth):
    ours, district, theirs = (make_audio(title=t, ward_id=w) for t, w in (
        ("Của Thới Hòa", "thoi-hoa"), ("Của quận", None), ("Của Long Hưng", "long-hung")))
    listed = {a["id"] for a in client.get("/api/v1/audio", headers=officer_auth).get_json()}
    assert listed == {ours.id, district.id}
    log_in(client, "officer-thoi-hoa")
    page = client.get("/audio").get_data(as_text=True)
    assert "Của Thới Hòa" in page and "Của quận" in page and "Của Long Hưng" not in page
    form = client.get("/broadcasts/new").get_data(as_text=True)
    assert "Của Thới Hòa" in form and "Của Long Hưng" not in form


def test_an_officer_cannot_schedule_another_ward_s_clip_and_learns_nothing_of_it(client, officer_auth):
    theirs = make_audio(ward_id="long-hung")
    answer = client.post("/api/v1/broadcasts", headers=officer_auth, json=broadcast_request(theirs.id))
    unknown = client.post("/api/v1/broadcasts", headers=officer_auth, json=broadcast_request(999_999))
    assert answer.status_code == unknown.status_code == 422
    assert answer.get_json()["error"]["message"] == unknown.get_json()["error"]["message"]
    programme = broadcast_request(make_audio().id, items=[theirs.id], repeat=2)
    programme.pop("audio_id")
    assert client.post("/api/v1/broadcasts", headers=officer_auth, json=programme).status_code == 422


def test_the_district_s_clips_serve_every_ward(client, officer_auth, long_hung_auth):
    shared = make_audio(ward_id=None)
    for auth, ward in ((officer_auth, "thoi-hoa"), (long_hung_auth, "long-hung")):
        request = broadcast_request(shared.id, targets={"wards": [ward]})
        assert client.post("/api/v1/broadcasts", headers=auth, json=request).status_code == 201


def test_a_programme_naming_another_ward_s_clip_tells_nothing_of_its_length(client, officer_auth):
    ours, theirs = make_audio(ward_id="thoi-hoa"), make_audio(ward_id="long-hung", duration_ms=600_000)
    answers = []
    for other in (theirs.id, 999_999):
        programme = broadcast_request(ours.id, items=[ours.id, other], repeat=10)
        programme.pop("audio_id")
        answers.append(client.post("/api/v1/broadcasts", headers=officer_auth, json=programme))
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].get_json()["error"] == answers[1].get_json()["error"]
