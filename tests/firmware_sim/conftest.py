"""Fixtures for the simulator: a firmware rig, a private broker, a tiny mp3 served over HTTP."""

import hashlib
import http.server
import shutil
import subprocess
import threading

import pytest

from tests.firmware_sim.factories import Rig
from tests.support.broker import running_broker


@pytest.fixture
def rig() -> Rig:
    """A firmware on a simulated clock whose fetches wait for the test."""
    return Rig()


@pytest.fixture
def broker(tmp_path):
    """A private Mosquitto, logins only (tests/support/broker.py), its files apart from the test's own."""
    with running_broker(tmp_path / "broker") as running:
        yield running


@pytest.fixture(scope="session")
def tiny_mp3(tmp_path_factory) -> bytes:
    """Return a 0.3 s mono mp3 made with ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("audio") / "tone.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.3", "-ac", "1", "-b:a", "32k",
         str(path)],
        check=True,
    )
    return path.read_bytes()


class AudioServer:
    """Serve byte strings over HTTP from a background thread."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        files, hits = self.files, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = files.get(self.path)
                hits[self.path] = hits.get(self.path, 0) + 1
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name: str, data: bytes) -> dict:
        """Serve `data` at /name and return the play command's `audio` object for it."""
        self.files[f"/{name}"] = data
        url = f"http://127.0.0.1:{self.server.server_address[1]}/{name}"
        return {"url": url, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def audio_server():
    server = AudioServer()
    yield server
    server.close()
