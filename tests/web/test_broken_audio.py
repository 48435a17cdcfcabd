"""Broken, lying and extreme audio uploaded through the API: each refused with its reason in the reader's language,
nothing kept (no row, no file, no temp file), the process unharmed; real audio under a wrong name or an odd format
is judged by its content and kept."""

import gc
import resource
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import Audio, AuditEntry, Broadcast
from pa_controller.settings import of as settings_of
from tests.support.audio_corpus import SECONDS, chunk, fmt, sine, wav
from tests.support.leftovers import child_processes, files_under, open_descriptors
from tests.support.settings import use_settings
from tests.web.test_programmes import programme

# The rules are the audio package's; the database only has to stay empty, so one kind of it is enough here
# (tests/web/test_media_store_faults.py runs on both).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Decoding the 30 minutes an upload may last costs ffmpeg 4-5 s of CPU; a verdict on headers costs a tenth of that.
HEADER_VERDICT_CPU_S = 2.0
VIETNAMESE = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
# What the reason says, in Vietnamese and in English, for each code.
SAYS = {
    "empty": ("Tệp rỗng", "The file is empty"),
    "not_audio": ("không phải bản ghi âm", "not an audio recording"),
    "corrupt": ("Tệp bị hỏng", "The file is damaged"),
    "too_long": ("180 phút", "180 min"),
    "low_sample_rate": ("Hz, quá thấp", "Hz, too low"),
    "too_dense": ("8 kênh ở 384000 Hz", "8 channels at 384000 Hz"),
}


def _cut(path: Path, share: float) -> bytes:
    data = path.read_bytes()
    return data[: int(len(data) * share)]


REFUSED = [
    ("a truncated MP3 is damaged", "cut.mp3", lambda c: _cut(c.tone_mp3(), 1 / 3), "corrupt"),
    ("a truncated WAV is damaged", "cut.wav", lambda c: _cut(c.tone_wav(), 1 / 3), "corrupt"),
    ("a PNG named .mp3 is not audio", "picture.mp3", lambda c: c.png().read_bytes(), "not_audio"),
    ("a file of 0 bytes is empty", "empty.mp3", lambda c: b"", "empty"),
    ("a WAV whose data chunk claims 4 GB it does not hold is damaged", "huge-data.wav",
     lambda c: wav(fmt(), chunk(b"data", c.pcm(), claimed=0xFFFF_FFF0)), "corrupt"),
    ("a WAV whose junk chunk claims 10 MB it does not hold is damaged", "huge-junk.wav",
     lambda c: wav(chunk(b"JUNK", bytes(100), claimed=10 << 20), fmt(), chunk(b"data", c.pcm())), "corrupt"),
    ("a text file is not audio", "notes.txt", lambda c: "Họp tổ dân phố lúc 19 giờ.\n".encode(), "not_audio"),
    ("a PDF is not audio", "letter.pdf", lambda c: b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
     "not_audio"),
    ("random bytes are not audio", "data.bin", lambda c: c.random_bytes(50_000, seed=15), "not_audio"),
    ("an HTML page is not audio", "page.html",
     lambda c: b"<!doctype html><html><head><title>x</title></head><body><p>Thong bao</p></body></html>\n",
     "not_audio"),
    ("a WAV sampled at 1 Hz cannot carry speech", "one-hertz.wav",
     lambda c: wav(fmt(rate=1), chunk(b"data", c.random_bytes(40, seed=1))), "low_sample_rate"),
    ("a WAV sampled at 100 Hz cannot carry speech", "hundred-hertz.wav",
     lambda c: wav(fmt(rate=100), chunk(b"data", c.pcm()[:600])), "low_sample_rate"),
    ("three silent hours of FLAC are too long, by their header", "silence.flac",
     lambda c: c.silent_flac().read_bytes(), "too_long"),
    ("three silent hours of Opus are too long, by their header", "silence.opus",
     lambda c: c.silent_opus().read_bytes(), "too_long"),
    ("a decompression bomb (8 channels at 384 kHz, no length) is refused before decoding", "bomb.flac",
     lambda c: c.bomb().read_bytes(), "too_dense"),
]  # fmt: skip

ACCEPTED = [
    ("a WAV named .mp3 is judged by its content", "tone.mp3", lambda c: c.tone_wav().read_bytes()),
    ("an MP3 named .wav is judged by its content", "tone.wav", lambda c: c.tone_mp3().read_bytes()),
    ("a WAV with a 10 MB junk chunk before its samples is read past it", "padded.wav",
     lambda c: wav(chunk(b"JUNK", bytes(10 << 20)), fmt(), chunk(b"data", c.pcm()))),
    ("a WAV of unknown length (sizes 0xFFFFFFFF, as written to a pipe) ends where the file ends", "streamed.wav",
     lambda c: wav(fmt(), chunk(b"data", c.pcm(), claimed=0xFFFF_FFFF), riff_size=0xFFFF_FFFF)),
    ("a recording at 384 kHz is resampled", "fast.wav", lambda c: c.encoded("384k.wav", *sine(384_000)).read_bytes()),
    ("8 channels at 48 kHz are mixed down", "surround.wav",
     lambda c: c.encoded("8ch.wav", *sine(48_000), "-ac", "8").read_bytes()),
]  # fmt: skip


def upload(client, auth, name: str, data: bytes, language: str = "vi"):
    return client.post("/api/v1/audio", headers={**auth, "Accept-Language": language},
                       data={"file": (BytesIO(data), name), "title": "Thông báo"}, content_type="multipart/form-data")


def kept() -> tuple[int, int]:
    """Rows an upload leaves: clips, and audit entries of uploads."""
    clips = db.session.scalar(select(func.count()).select_from(Audio))
    entries = db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "audio.upload"))
    return clips, entries


def _answer(response) -> tuple[int, dict]:
    return response.status_code, response.get_json()


def tools_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@pytest.mark.parametrize(("rule", "name", "build", "code"), REFUSED, ids=[case[0] for case in REFUSED])
def test_a_broken_upload_is_refused_with_its_reason_and_leaves_nothing(rule, name, build, code, corpus, seeded,
                                                                       client, admin_auth, isolated_tmp):
    """Each rule in REFUSED: 422 and its code, the reason in Vietnamese and (Accept-Language: en) in English, on
    ffmpeg's word about the headers where they suffice; no row, no file in the media or instance directory, no
    temp file, no ffmpeg left running, no descriptor left open."""
    data = build(corpus)
    instance = settings_of(seeded).instance_dir
    client.get("/api/v1/audio", headers=admin_auth)  # opens what any request opens, before counting descriptors
    gc.collect()  # and closes what earlier tests left to the collector
    before = files_under(instance), open_descriptors(), tools_cpu_s()

    # Only what was answered is kept: a test response holds its request, and with it werkzeug's spooled upload.
    answers = {language: _answer(upload(client, admin_auth, name, data, language)) for language in ("vi", "en")}

    cpu_s = (tools_cpu_s() - before[2]) / 2
    for language, (status, body) in answers.items():
        assert status == 422, (language, body)
        error = body["error"]
        assert error["code"] == code and error["fields"] == {"file": code}, error
        assert SAYS[code][language == "en"] in error["message"], error["message"]
    assert VIETNAMESE & set(answers["vi"][1]["error"]["message"].lower())
    assert answers["en"][1]["error"]["message"].isascii()
    assert kept() == (0, 0)
    assert files_under(instance) == before[0] and files_under(isolated_tmp) == []
    gc.collect()
    assert child_processes() == [] and open_descriptors() == before[1]
    assert cpu_s < HEADER_VERDICT_CPU_S, f"{rule}: the tools used {cpu_s:.1f} s of CPU"


@pytest.mark.parametrize(("rule", "name", "build"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_real_audio_under_a_wrong_name_or_in_an_odd_format_is_kept(rule, name, build, corpus, seeded, client,
                                                                   admin_auth, isolated_tmp):
    """Each rule in ACCEPTED: 201, one row, one file named by its sha256, the full length, no temp file."""
    answer = upload(client, admin_auth, name, build(corpus))
    assert answer.status_code == 201, answer.get_json()
    clip = answer.get_json()
    assert abs(clip["duration_ms"] - SECONDS * 1000) <= 50 and abs(clip["loudness_lufs"] + 16) <= 1, clip
    assert kept() == (1, 1)
    assert files_under(settings_of(seeded).media_dir) == [f"{clip['sha256']}.mp3"]
    assert files_under(isolated_tmp) == [] and child_processes() == []


def test_a_header_that_says_a_minute_over_hours_of_sound_is_cut_at_the_limit(corpus, seeded, client, admin_auth,
                                                                           isolated_tmp):
    """A FLAC that says 60 s and holds 3 h (its frames numbered over again, so its timestamps stand still): the
    decode stops at the limit in samples, not when the timestamps pass it, and the file is refused as too long."""
    use_settings(seeded, audio_max_seconds=120)
    data = corpus.looped_flac().read_bytes()
    before = tools_cpu_s()
    answer = upload(client, admin_auth, "says-a-minute.flac", data)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "too_long", answer.get_json()
    # Two minutes of 8 kHz FLAC decode in a fraction of a second; the three hours took 20 s of CPU.
    assert tools_cpu_s() - before < HEADER_VERDICT_CPU_S * 2
    assert kept() == (0, 0) and files_under(isolated_tmp) == [] and child_processes() == []


@pytest.mark.parametrize("damage", ["cut short", "overwritten", "deleted"])
def test_a_programme_of_a_clip_damaged_on_disk_is_refused_naming_it_until_it_is_uploaded_again(
        damage, corpus, seeded, client, officer_auth, isolated_tmp):
    """A stored clip that no longer hashes to its name (cut to a third: it decoded cleanly into a shorter
    programme; overwritten in place at the same size; gone) is refused by name; no broadcast and no programme are
    kept. Uploading the recording again puts the right bytes back, and the programme composes."""
    tone = corpus.tone_wav().read_bytes()
    clip = upload(client, officer_auth, "tone.wav", tone).get_json()
    path = settings_of(seeded).media_dir / f"{clip['sha256']}.mp3"
    data = path.read_bytes()
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(data[: len(data) // 3] if damage == "cut short" else data[:2000] + bytes(3000) + data[5000:])
    fields = {"items": [clip["id"]], "repeat": 2, "gap_s": 1, "chime": True}

    answer = programme(client, officer_auth, 30, **fields)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["fields"] == {"items": "corrupt"}
    assert "“Thông báo” lưu trên máy chủ đã hỏng hoặc bị mất" in answer.get_json()["error"]["message"]
    assert kept() == (1, 1) and db.session.scalar(select(func.count()).select_from(Broadcast)) == 0

    assert upload(client, officer_auth, "tone.wav", tone).get_json()["sha256"] == clip["sha256"]
    assert path.read_bytes() == data
    made = programme(client, officer_auth, 30, **fields)
    assert made.status_code == 201, made.get_json()
    assert abs(made.get_json()["duration_ms"] - (2 * clip["duration_ms"] + 1000 + 2 * 1200)) <= 150
