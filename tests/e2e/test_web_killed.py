"""The web tier killed mid-request: nothing half-saved, no media file without its row, the retry works, nothing
plays twice.

gunicorn as `make run` starts it (two workers), the scheduler as a process of its own, a private Mosquitto and
every 8th cluster of Ô Môn (57). First the whole web tier is killed (SIGKILL to gunicorn and its workers) while
uploads are in flight, one of them being prepared by ffmpeg and others still sending their bodies; it is started
again and each upload sent again. Then one worker is killed while it composes the programme of a new broadcast;
gunicorn replaces it and the broadcast is sent again. Judged by the database and the media directory, and by the
clusters' ground truth for the broadcast.
"""

import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from audio.chime import chime
from firmware_sim import Fleet, load_csv
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, Run
from pa_controller.services import leftovers
from pa_controller.settings import of as settings_of
from pa_protocol import format_time
from tests.support.broker import free_port
from tests.support.runs import broadcast_to, judge, upload
from tests.support.system import System
from tests.support.web import running_controller

pytestmark = pytest.mark.e2e

SAMPLE = load_csv()[::8]
CIDS = [spec.cid for spec in SAMPLE]
SETTINGS = {"now_lead_s": 3.0, "run_settle_s": 3.0, "heartbeat_s": 2.0, "dispatch_lead_s": 4.0}
SLOW_UPLOADS = 3
TITLE = "Lịch cắt điện tuần này"
START_IN_S = 18  # the broadcast composed, killed, and composed again: still ahead of its start


@pytest.fixture
def scratch(tmp_path):
    """The temporary directory of the controller's processes: the audio package's scratch goes there."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def stack(database_url, broker, make_settings, tmp_path, scratch):
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{free_port()}", **SETTINGS)
    with running_controller(settings, broker, tmp_path, TMPDIR=str(scratch)) as (system, web, _scheduler):
        yield system, web


def _wav(path, seconds: float, hz: int):
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}",
                    "-ac", "1", "-ar", "22050", str(path)], check=True)
    return path


class Upload(threading.Thread):
    """An upload whose body goes out in two halves; the second waits for `go_on` (and fails if the server died).

    It is its own body, a file-like object of known length, so that it goes out with a Content-Length and no
    chunking (gunicorn refuses a request that has both, as requests would send for a generator)."""

    def __init__(self, system: System, clip, title: str, go_on: threading.Event | None = None):
        super().__init__(daemon=True)
        self.system, self.clip, self.title, self.go_on = system, clip, title, go_on
        boundary = "loanet-e2e-boundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{clip.name}\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n")
        self.body = head.encode() + clip.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        self.headers = {**system.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        self.sent = 0
        self.half_sent = threading.Event()
        self.outcome: int | str | None = None
        self.answer = ""  # the body of the answer, if one came

    def __len__(self) -> int:
        return len(self.body)

    def read(self, size: int = -1) -> bytes:
        """Hand http.client the body, a block at a time; past the first half, once `go_on` is set."""
        if self.sent >= len(self.body) // 2 and not self.half_sent.is_set():
            self.half_sent.set()
            if self.go_on is not None:
                self.go_on.wait(60)
        end = len(self.body) if size < 0 else self.sent + size
        block, self.sent = self.body[self.sent:end], min(end, len(self.body))
        return block

    def run(self) -> None:
        try:
            response = requests.post(self.system.base_url + "/api/v1/audio", data=self,
                                     headers=self.headers, timeout=60)
            self.outcome = response.status_code
        except requests.RequestException as exc:
            self.outcome = type(exc).__name__
        else:
            self.answer = response.text


def _wait(predicate, timeout_s: float, what: str, show=lambda: ""):
    deadline = time.monotonic() + timeout_s
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} {show()}")
        time.sleep(0.01)
    return found


def _media_and_rows(system: System) -> tuple[set[str], set[str], list[str]]:
    """The clips in the media directory, those the Audio rows name, and any file half-written there."""
    media_dir = settings_of(system.app).media_dir
    with system.app.app_context():
        rows = set(db.session.scalars(select(Audio.sha256)))
        db.session.remove()
    files = {path.stem for path in media_dir.glob("*.mp3")}
    return files, rows, sorted(path.name for path in media_dir.iterdir() if path.suffix != ".mp3")


def _broadcasts_titled(system: System, title: str) -> dict[int, int]:
    """Broadcasts with this title, and how many runs each has."""
    with system.app.app_context():
        found = dict(db.session.execute(
            select(Broadcast.id, func.count(Run.id)).outerjoin(Run, Run.broadcast_id == Broadcast.id)
            .where(Broadcast.title == title).group_by(Broadcast.id)).all())
        db.session.remove()
    return found


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_web_tier_killed_mid_request_leaves_nothing_half_saved_and_the_retry_works(stack, broker, tone,
                                                                                        tmp_path, scratch):
    system, web = stack
    truth_path = tmp_path / "truth.jsonl"
    first, second = upload(system, tone), upload(system, _wav(tmp_path / "second.wav", 1.5, 880), "Chuông")
    slow = [_wav(tmp_path / f"slow-{n}.wav", 2, 300 + 100 * n) for n in range(SLOW_UPLOADS)]
    long = _wav(tmp_path / "long.wav", 60, 440)  # ffmpeg works on it for a while
    with Fleet(SAMPLE, broker.url, truth_path=truth_path, heartbeat_s=SETTINGS["heartbeat_s"],
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=60) == len(SAMPLE)
        # 1. The whole web tier killed while uploads are in flight: bodies half sent, one being prepared.
        go_on = threading.Event()
        uploads = [Upload(system, clip, f"Tải dở {n}", go_on) for n, clip in enumerate(slow)]
        uploads.append(Upload(system, long, "Bản tin dài"))
        for each in uploads:
            each.start()
        _wait(lambda: all(u.half_sent.is_set() for u in uploads), 20, "every upload to be under way",
              lambda: [(u.half_sent.is_set(), u.outcome, u.answer) for u in uploads])
        _wait(lambda: web.worker_running("ffmpeg"), 30, "ffmpeg to prepare the long upload",
              lambda: (uploads[-1].outcome, uploads[-1].answer))
        web.kill()
        go_on.set()
        for each in uploads:
            each.join(60)
        assert not any(u.outcome in (200, 201) for u in uploads), [u.outcome for u in uploads]
        web.start()
        for each in uploads:
            again = Upload(system, each.clip, each.title)
            again.run()
            assert again.outcome == 201, f"{each.title}: the retried upload got {again.outcome}"

        # 2. A worker killed while it composes the programme of a new broadcast.
        start_at = datetime.now(UTC) + timedelta(seconds=START_IN_S)
        programme = {"items": [first, second], "repeat": 2, "gap_s": 1, "chime": True}
        attempt: list = []
        posting = threading.Thread(target=lambda: attempt.append(_post_broadcast(system, start_at, programme)))
        posting.start()
        composer = _wait(lambda: web.worker_running("ffmpeg"), 30, "a worker to compose the programme")
        subprocess.run(["kill", "-9", str(composer)], check=True)
        posting.join(60)
        assert attempt and attempt[0] not in (200, 201), f"the request ended {attempt}, not cut off"
        assert _broadcasts_titled(system, TITLE) == {}, "a broadcast was saved from the killed request"
        _wait(lambda: len(web.workers()) == 2 and web.ready(), 30, "gunicorn to replace its worker")
        run_id = broadcast_to(system, CIDS, TITLE, start_at, **programme)
        judge(system, truth_path, run_id, CIDS)

    saved = _broadcasts_titled(system, TITLE)
    assert list(saved.values()) == [1], f"one broadcast, whole with its run: {saved}"
    with system.app.app_context():
        titles = sorted(db.session.scalars(select(Audio.title).where(Audio.composed.is_(False))))
        db.session.remove()
    assert titles == sorted(["Thông báo", "Chuông", "Bản tin dài", *(f"Tải dở {n}" for n in range(SLOW_UPLOADS))])
    # What the killed requests left (their scratch: the copy of an upload, a programme's workings) goes when the
    # worker next looks, once older than any request; and with it any clip no row names. Here: GRACE on.
    instance = settings_of(system.app).instance_dir
    left = [*scratch.iterdir(), *instance.glob(leftovers.SCRATCH)]
    assert left, "the kills left no scratch behind: they did not land mid-request"
    with system.app.app_context():
        gone = leftovers.sweep(datetime.now(UTC) + leftovers.GRACE + timedelta(seconds=1), scratch)
        db.session.remove()
    assert set(left) <= set(gone)
    files, rows, leftover = _media_and_rows(system)
    assert not leftover, f"half-written files in the media directory: {leftover}"
    assert rows <= files, f"clips without their file: {rows - files}"
    assert files - rows <= {_chime(system)}, f"media files without their row: {files - rows}"


def _post_broadcast(system: System, start_at: datetime, programme: dict) -> int | str:
    try:
        return requests.post(system.base_url + "/api/v1/broadcasts", headers=system.auth, timeout=60, json={
            "title": TITLE, "priority": "normal", "targets": {"clusters": CIDS}, "start_at": format_time(start_at),
            **programme}).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def _chime(system: System) -> str:
    """The chime the composed programme opens with: a file of the media directory no row names."""
    return chime(settings_of(system.app).media_dir).sha256
