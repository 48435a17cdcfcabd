"""Programmes through the API: clips back to back, repeated with a gap, between chimes, sent as one clip."""

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast
from pa_controller.settings import of as settings_of
from tests.web.test_audio_api import make_tone, upload


def clip(client, auth, tmp_path, seconds: float) -> dict:
    answer = upload(client, auth, f"{seconds}.wav", make_tone(tmp_path / f"{seconds}.wav", seconds).read_bytes())
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def programme(client, auth, minutes_ahead: int, **fields):
    start = protocol.format_time(clock.now() + timedelta(minutes=minutes_ahead))
    return client.post("/api/v1/broadcasts", headers=auth, json={
        "title": "Thông báo tiêm chủng", "targets": {"wards": ["thoi-hoa"]}, "start_at": start, **fields})


def test_a_programme_is_composed_into_one_clip_of_the_right_length_and_reused(client, seeded, officer_auth,
                                                                             tmp_path):
    first, second = clip(client, officer_auth, tmp_path, 1.0), clip(client, officer_auth, tmp_path, 2.0)
    fields = {"items": [first["id"], second["id"]], "repeat": 2, "gap_s": 1, "chime": True}
    answer = programme(client, officer_auth, 30, **fields)
    assert answer.status_code == 201, answer.get_json()
    made = answer.get_json()
    expected = 2 * (first["duration_ms"] + second["duration_ms"]) + 1000 + 2 * 1200
    assert abs(made["duration_ms"] - expected) <= 150, (made["duration_ms"], expected)
    assert made["programme"] == {"items": [first["id"], second["id"]], "repeat": 2, "gap_s": 1, "chime": True}
    composed = db.session.get(Audio, made["audio_id"])
    path = settings_of(seeded).media_dir / f"{composed.sha256}.mp3"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == composed.sha256

    again = programme(client, officer_auth, 60, **fields)  # later, so no conflict
    assert again.status_code == 201 and again.get_json()["audio_id"] == made["audio_id"]


def test_bad_programmes_are_refused_and_nothing_is_stored(client, seeded, officer_auth, tmp_path):
    one = clip(client, officer_auth, tmp_path, 1.0)["id"]
    for fields, field in (({"items": []}, "items"), ({"items": [one] * 21}, "items"), ({"items": [one, 99999]},
                          "audio_id"), ({"items": [one], "repeat": 11}, "repeat"), ({"items": [one], "gap_s": -1},
                          "gap_s"), ({"items": [one], "chime": "yes"}, "chime"), ({"items": "1,2"}, "items")):
        answer = programme(client, officer_auth, 30, **fields)
        assert answer.status_code == 422 and field in answer.get_json()["error"]["fields"], (fields, answer.get_json())
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 0
    assert db.session.scalar(select(func.count()).select_from(Audio)) == 1
