"""Uploading audio through the API: a clear 422 for every bad file, nothing stored; clips served by sha256."""

import hashlib
import subprocess

import pytest
from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import Audio
from pa_controller.settings import of as settings_of
from tests.support.settings import use_settings


def make_tone(path, seconds: float = 1.0):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    str(path)], check=True, timeout=60)
    return path


def upload(client, auth, name: str, data: bytes, title: str = "Thông báo"):
    from io import BytesIO

    return client.post("/api/v1/audio", headers=auth, data={"file": (BytesIO(data), name), "title": title},
                       content_type="multipart/form-data")


def stored(app) -> tuple[int, list]:
    return db.session.scalar(select(func.count()).select_from(Audio)), sorted(settings_of(app).media_dir.iterdir())


def test_an_upload_is_normalised_stored_by_sha256_and_served_with_etag_and_range(client, seeded, admin_auth, tmp_path):
    response = upload(client, admin_auth, "tone.wav", make_tone(tmp_path / "tone.wav").read_bytes())
    assert response.status_code == 201, response.get_json()
    clip = response.get_json()
    assert abs(clip["loudness_lufs"] + 16) <= 1 and 950 <= clip["duration_ms"] <= 1050

    served = client.get(clip["url"])
    assert served.status_code == 200 and served.mimetype == "audio/mpeg"
    assert hashlib.sha256(served.data).hexdigest() == clip["sha256"]
    assert served.headers["ETag"].strip('"') == clip["sha256"]
    assert "immutable" in served.headers["Cache-Control"]
    assert client.get(clip["url"], headers={"If-None-Match": served.headers["ETag"]}).status_code == 304
    part = client.get(clip["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == served.data[:100]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.mp3", b"", "empty"),
        ("notes.txt", "Lịch họp tổ dân phố".encode(), "not_audio"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not_audio"),
        ("noise.wav", bytes(range(256)) * 40, "corrupt"),
    ],
)
def test_a_bad_upload_gets_422_naming_the_problem_and_stores_nothing(client, seeded, admin_auth, name, data, code):
    response = upload(client, admin_auth, name, data)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert stored(seeded) == (0, [])


def test_a_truncated_mp3_is_corrupt(client, seeded, admin_auth, tmp_path):
    source = tmp_path / "long.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=5", str(source)], check=True)
    response = upload(client, admin_auth, "cut.mp3", source.read_bytes()[: source.stat().st_size // 3])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "corrupt"
    assert stored(seeded) == (0, [])


def test_over_size_and_over_length_uploads_are_refused(seeded, admin_auth, tmp_path):
    use_settings(seeded, audio_max_bytes=20_000, audio_max_seconds=2)
    client = seeded.test_client()
    big = upload(client, admin_auth, "big.wav", make_tone(tmp_path / "big.wav", seconds=1).read_bytes())
    assert big.status_code == 422 and big.get_json()["error"]["code"] == "too_large"
    use_settings(seeded, audio_max_bytes=50 * 1024 * 1024)
    long = upload(client, admin_auth, "long.wav", make_tone(tmp_path / "long.wav", seconds=3).read_bytes())
    assert long.status_code == 422 and long.get_json()["error"]["code"] == "too_long"
    assert stored(seeded) == (0, [])


def test_an_upload_without_a_file_field_is_422(client, admin_auth):
    response = client.post("/api/v1/audio", headers=admin_auth, data={"title": "x"})
    assert response.status_code == 422 and response.get_json()["error"]["fields"] == {"file": "missing"}


def test_a_technician_cannot_upload(client, technician_auth, tmp_path):
    response = upload(client, technician_auth, "tone.wav", make_tone(tmp_path / "t.wav").read_bytes())
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64])
def test_media_names_other_than_a_sha256_are_404(client, name):
    assert client.get(f"/media/{name}.mp3").status_code == 404
