"""The media store's disk full or read-only, for real (a filled tmpfs, a read-only bind mount): an upload, a text read
aloud and a composed programme are refused with 507 or 503 and a reason the officer can pass on, nothing is half
written (no partial file, no row), and the next request once the disk is back is kept as usual."""

from io import BytesIO

import pytest
from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import Audio, AuditEntry, Broadcast
from pa_controller.settings import of as settings_of
from tests.support.leftovers import child_processes, files_under
from tests.support.mounts import FILLER, fill, read_only, tmpfs, writable_again
from tests.web.test_programmes import programme

pytestmark = pytest.mark.e2e  # real mounts, filled to the last byte: with the fault suites (`make test-e2e`)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FULL = ("hết chỗ lưu", "run out of storage space")
UNWRITABLE = ("không ghi được vào thư mục lưu âm thanh", "cannot write to the directory where audio is kept")


def upload(client, auth, data: bytes, language: str = "vi"):
    return client.post("/api/v1/audio", headers={**auth, "Accept-Language": language},
                       data={"file": (BytesIO(data), "tone.wav"), "title": "Thông báo"},
                       content_type="multipart/form-data")


def rows() -> tuple[int, int, int]:
    """Clips, audit entries of new clips, broadcasts."""
    count = lambda query: db.session.scalar(select(func.count()).select_from(query))  # noqa: E731
    entries = select(AuditEntry).where(AuditEntry.action.in_(["audio.upload", "audio.speech"])).subquery()
    return count(Audio), count(entries), count(Broadcast)


def refused(answer, status: int, code: str, says: tuple[str, str], language: str = "vi") -> None:
    assert answer.status_code == status, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == code and says[language == "en"] in error["message"], error


@pytest.mark.parametrize("disk", ["media", "instance"])
def test_an_upload_to_a_full_disk_is_refused_with_507_and_the_next_once_space_returns_is_kept(
        disk, corpus, seeded, client, admin_auth, isolated_tmp):
    """Full where the clip is stored (media), or where the upload is first copied (instance, holding media too)."""
    config = settings_of(seeded)
    where = config.media_dir if disk == "media" else config.instance_dir
    data = corpus.tone_wav().read_bytes()
    with tmpfs(where):
        filler = fill(where)
        refused(upload(client, admin_auth, data), 507, "storage_full", FULL)
        refused(upload(client, admin_auth, data, "en"), 507, "storage_full", FULL, "en")
        assert rows() == (0, 0, 0)
        assert files_under(where) == [FILLER] and files_under(isolated_tmp) == [] and child_processes() == []

        filler.unlink()
        kept = upload(client, admin_auth, data)
        assert kept.status_code == 201, kept.get_json()
        assert rows() == (1, 1, 0)
        assert (config.media_dir / f"{kept.get_json()['sha256']}.mp3").is_file()
        assert [name for name in files_under(config.media_dir) if name.startswith(".")] == []


@SQLITE_ONLY
def test_an_upload_to_a_read_only_media_directory_is_refused_with_503_until_it_is_writable(
        corpus, seeded, client, admin_auth, isolated_tmp):
    media = settings_of(seeded).media_dir
    data = corpus.tone_wav().read_bytes()
    with read_only(media):
        refused(upload(client, admin_auth, data), 503, "storage_unwritable", UNWRITABLE)
        refused(upload(client, admin_auth, data, "en"), 503, "storage_unwritable", UNWRITABLE, "en")
        assert rows() == (0, 0, 0) and files_under(media) == [] and files_under(isolated_tmp) == []

        writable_again(media)
        assert upload(client, admin_auth, data).status_code == 201
        assert rows() == (1, 1, 0) and len(files_under(media)) == 1


@SQLITE_ONLY
def test_a_text_read_aloud_onto_a_full_disk_is_refused_with_507_and_kept_once_space_returns(
        seeded, client, admin_auth, isolated_tmp):
    media = settings_of(seeded).media_dir
    body = {"text": "Mời bà con đến họp tổ dân phố lúc 19 giờ.", "title": "Họp tổ", "speed": "normal"}
    with tmpfs(media):
        filler = fill(media)
        answer = client.post("/api/v1/audio/speech", headers=admin_auth, json=body)
        refused(answer, 507, "storage_full", FULL)
        assert rows() == (0, 0, 0) and files_under(media) == [FILLER] and files_under(isolated_tmp) == []

        filler.unlink()
        assert client.post("/api/v1/audio/speech", headers=admin_auth, json=body).status_code == 201
        assert rows() == (1, 1, 0)


@SQLITE_ONLY
def test_a_programme_composed_onto_a_full_disk_is_refused_with_507_and_no_broadcast(
        corpus, seeded, client, officer_auth, isolated_tmp):
    """The composed clip (and its chime, stored first) cannot be written: no broadcast, no clip but the upload."""
    media = settings_of(seeded).media_dir
    with tmpfs(media):
        clip = upload(client, officer_auth, corpus.tone_wav().read_bytes()).get_json()
        filler = fill(media)
        fields = {"items": [clip["id"]], "repeat": 2, "gap_s": 1, "chime": True}
        refused(programme(client, officer_auth, 30, **fields), 507, "storage_full", FULL)
        assert rows() == (1, 1, 0)
        assert files_under(media) == sorted([FILLER, f"{clip['sha256']}.mp3"]) and files_under(isolated_tmp) == []

        filler.unlink()
        made = programme(client, officer_auth, 30, **fields)
        assert made.status_code == 201, made.get_json()
        assert rows()[2] == 1


@SQLITE_ONLY
def test_hearing_a_text_first_with_a_read_only_instance_directory_is_refused_with_503(seeded, client, admin_auth):
    """The preview reads aloud into a scratch directory of the instance directory, which must be writable too."""
    instance = settings_of(seeded).instance_dir
    body = {"text": "Mời bà con đến họp.", "speed": "normal"}
    with read_only(instance):
        refused(client.post("/api/v1/audio/speech/preview", headers=admin_auth, json=body), 503,
                "storage_unwritable", UNWRITABLE)
        writable_again(instance)
        heard = client.post("/api/v1/audio/speech/preview", headers=admin_auth, json=body)
        assert heard.status_code == 200 and heard.mimetype == "audio/mpeg"
    assert rows() == (0, 0, 0)
