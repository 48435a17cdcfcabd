"""Storage is content-addressed, atomic and idempotent; the package stays free of the web app."""

import subprocess
import sys
from pathlib import Path

import audio

ROOT = Path(__file__).resolve().parents[2]


def test_preparing_the_same_input_twice_gives_the_same_file_once(lab, prepared_cache, isolated_tmp):
    """Same input → same sha256 and a single file; the second run accepts the file already there."""
    source = lab.encode(lab.speech(), "ogg-opus")
    first, media_dir = prepared_cache(source)
    second = audio.prepare(source, media_dir)
    assert first == second
    assert [p.name for p in media_dir.iterdir()] == [f"{first.sha256}.mp3"]
    assert list(isolated_tmp.iterdir()) == []


def test_the_same_sound_in_two_lossless_containers_gets_one_name(lab, prepared_cache):
    """WAV and FLAC of the same samples decode identically, so they map to one content address."""
    speech = lab.speech()
    from_wav, _ = prepared_cache(lab.encode(speech, "wav"))
    from_flac, _ = prepared_cache(lab.encode(speech, "flac"))
    assert from_wav.sha256 == from_flac.sha256


def test_a_missing_media_dir_is_created(lab, tmp_path):
    """prepare() creates media_dir (and parents) when it has to store something."""
    media = tmp_path / "not" / "yet" / "there"
    result = audio.prepare(lab.tone("one-second.wav", dbfs=-20, seconds=1), media)
    assert result.path.parent == media and result.path.is_file()


def test_the_audio_package_imports_neither_flask_nor_pa_controller():
    """audio is a leaf: importing it in a fresh interpreter pulls in no Flask and no pa_controller."""
    check = (
        "import sys, audio; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'pa_controller', 'werkzeug'}); "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
