"""Compose by text: an officer's text is read aloud by the offline voice, prepared like an upload, kept in their
ward's library with its text, and heard first without keeping anything."""

import subprocess
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import Audio, AuditEntry
from pa_controller.services.speech import MAX_TEXT
from pa_controller.settings import of as settings_of
from tests.conftest import PASSWORD
from tests.security.test_csrf import csrf_token
from tests.support.settings import use_settings
from tests.support.signing_in import log_in

TEXT = "Lúc 17h30 ngày 02/12, UBND phường Thới Hòa họp dân."
READING = "Lúc mười bảy giờ ba mươi phút ngày hai tháng mười hai, ủy ban nhân dân phường Thới Hòa họp dân."


def compose(client, auth, **body):
    return client.post("/api/v1/audio/speech", headers=auth, json={"text": TEXT, "title": "Họp dân", **body})


def clips() -> int:
    return db.session.scalar(select(func.count()).select_from(Audio))


def media_files(app) -> list:
    return sorted(settings_of(app).media_dir.glob("*.mp3")) if settings_of(app).media_dir.exists() else []


def mp3_codec(data: bytes, tmp_path) -> str:
    path = tmp_path / "heard.mp3"
    path.write_bytes(data)
    return subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name",
                           "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_an_officer_s_text_becomes_a_clip_of_their_ward_kept_with_its_text_and_audited(client, officer_auth):
    answer = compose(client, officer_auth, speed="slow")
    assert answer.status_code == 201, answer.get_json()
    clip = answer.get_json()
    assert clip["ward"] == "thoi-hoa" and clip["title"] == "Họp dân" and clip["text"] == TEXT
    assert abs(clip["loudness_lufs"] + 16) <= 1 and clip["duration_ms"] > 2000 and not clip["composed"]
    assert client.get(clip["url"]).mimetype == "audio/mpeg"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audio.speech")).one()
    assert entry.target == f"audio:{clip['id']}" and entry.ward_id == "thoi-hoa"
    assert [a["id"] for a in client.get("/api/v1/audio", headers=officer_auth).get_json()] == [clip["id"]]


def test_a_clip_without_a_title_is_named_after_its_text(client, officer_auth):
    clip = compose(client, officer_auth, title="").get_json()
    assert clip["title"] == "Lúc 17h30 ngày 02/12, UBND phường Thới Hòa họp dân."


def test_the_preview_is_the_mp3_that_would_play_and_keeps_nothing(client, seeded, officer_auth, tmp_path):
    heard = client.post("/api/v1/audio/speech/preview", headers=officer_auth, json={"text": TEXT, "speed": "fast"})
    assert heard.status_code == 200 and heard.mimetype == "audio/mpeg"
    assert mp3_codec(heard.data, tmp_path) == "mp3"
    assert unquote(heard.headers["X-Speech-Reading"]) == READING
    assert clips() == 0 and media_files(seeded) == []
    assert not db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "audio.speech"))


def test_the_reading_says_how_numbers_dates_and_times_will_be_read(client, officer_auth):
    answer = client.post("/api/v1/audio/speech/reading", headers=officer_auth, json={"text": TEXT})
    assert answer.status_code == 200 and answer.get_json() == {"text": TEXT, "reading": READING}


@pytest.mark.parametrize(("body", "field"), [
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "a" * (MAX_TEXT + 1)}, "text"),
    ({"text": TEXT, "speed": "very fast"}, "speed"),
    ({"text": "… — !!!"}, "text"),
    ({"title": "Không có nội dung"}, "text"),
    ({"text": TEXT, "voice": "en"}, "voice"),
])
def test_a_text_that_cannot_be_read_is_refused_with_422_and_nothing_kept(client, seeded, officer_auth, body, field):
    for path in ("/api/v1/audio/speech", "/api/v1/audio/speech/preview"):
        sent = body if path.endswith("speech") else {k: v for k, v in body.items() if k != "title"}
        answer = client.post(path, headers=officer_auth, json=sent)
        assert answer.status_code == 422, (path, answer.get_json())
        error = answer.get_json()["error"]
        assert field in error["fields"] and error["message"]
    assert clips() == 0 and media_files(seeded) == []


def test_an_officer_cannot_file_a_text_under_another_ward(client, officer_auth):
    answer = compose(client, officer_auth, ward="long-hung")
    assert answer.status_code == 403
    assert clips() == 0


def test_an_administrator_files_a_text_for_the_district_or_a_ward(client, admin_auth):
    assert compose(client, admin_auth).get_json()["ward"] is None
    assert compose(client, admin_auth, ward="long-hung").get_json()["ward"] == "long-hung"


@pytest.mark.parametrize("path", ["/api/v1/audio/speech", "/api/v1/audio/speech/preview",
                                  "/api/v1/audio/speech/reading"])
def test_roles_that_do_not_schedule_cannot_compose(client, technician_auth, path):
    assert client.post(path, headers=technician_auth, json={"text": TEXT}).status_code == 403
    assert client.post(path, json={"text": TEXT}).status_code == 401


def test_a_voice_that_is_not_installed_is_said_so_and_keeps_nothing(client, seeded, officer_auth, tmp_path):
    model = tmp_path / "vi_VN-voice.onnx"
    model.write_bytes(b"onnx")
    use_settings(seeded, tts_piper_model=model, tts_piper_command="piper-not-installed")
    answer = compose(client, officer_auth)
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "voice_missing"
    assert "quản trị" in answer.get_json()["error"]["message"]
    assert clips() == 0


def test_the_page_composes_by_text_with_its_form_token(seeded, officer_auth, tmp_path):
    seeded.config["WTF_CSRF_ENABLED"] = True
    try:
        client = seeded.test_client()
        client.post("/login", data={"username": "officer-thoi-hoa", "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
        page = client.get("/audio").get_data(as_text=True)
        assert "Soạn bằng văn bản" in page and 'name="text"' in page and "speech.js" in page
        assert client.post("/audio/speech", data={"text": TEXT, "speed": "normal"}).status_code == 400
        token = csrf_token(client, "/audio")
        heard = client.post("/audio/speech/preview", data={"text": TEXT, "speed": "normal", "csrf_token": token})
        assert heard.status_code == 200 and mp3_codec(heard.data, tmp_path) == "mp3" and clips() == 0
        saved = client.post("/audio/speech", data={"text": TEXT, "title": "Họp dân", "speed": "slow",
                                                   "csrf_token": token})
        assert saved.status_code == 302
        clip = db.session.scalars(select(Audio)).one()
        assert (clip.title, clip.ward_id, clip.speech_text) == ("Họp dân", "thoi-hoa", TEXT)
        assert "Họp dân" in client.get("/broadcasts/new").get_data(as_text=True)  # ready to schedule
    finally:
        seeded.config["WTF_CSRF_ENABLED"] = False


def test_the_page_keeps_a_refused_text_for_correcting(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    refused = client.post("/audio/speech", data={"text": "Họp lúc 17h30", "speed": "warp"})
    assert refused.status_code == 422
    assert "Họp lúc 17h30</textarea>" in refused.get_data(as_text=True)
    preview = client.post("/audio/speech/preview", data={"text": ""})
    assert preview.status_code == 422 and preview.mimetype == "text/plain" and "ký tự" in preview.get_data(as_text=True)
    assert clips() == 0
