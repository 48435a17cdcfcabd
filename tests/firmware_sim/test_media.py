"""Fetching, verifying and decode-checking clips (rule 2)."""

import threading

import pytest
import requests

from firmware_sim.media import DecodeChecks, DecodeError, FetchOutcome, fetch_clip, probe_duration


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def test_a_good_clip_is_fetched_verified_and_decoded(audio_server, tiny_mp3, http):
    audio = audio_server.add("good.mp3", tiny_mp3)
    outcome = fetch_clip(audio, http, DecodeChecks())
    assert outcome.ok and 0.2 < outcome.duration_s < 0.5


def test_a_missing_clip_fails_with_reason_fetch(audio_server, tiny_mp3, http):
    audio = {**audio_server.add("gone.mp3", tiny_mp3), "url": audio_server.add("x", b"x")["url"] + "-missing"}
    outcome = fetch_clip(audio, http, DecodeChecks())
    assert (outcome.ok, outcome.reason) == (False, "fetch")
    assert "404" in outcome.message


def test_an_unreachable_server_fails_with_reason_fetch(http):
    audio = {"url": "http://127.0.0.1:9/clip.mp3", "sha256": "0" * 64, "bytes": 10}
    assert fetch_clip(audio, http, DecodeChecks()).reason == "fetch"


def test_a_clip_with_another_sha256_or_size_fails_with_reason_checksum(audio_server, tiny_mp3, http):
    audio = audio_server.add("sum.mp3", tiny_mp3)
    assert fetch_clip({**audio, "sha256": "0" * 64}, http, DecodeChecks()).reason == "checksum"
    assert fetch_clip({**audio, "bytes": audio["bytes"] - 1}, http, DecodeChecks()).reason == "checksum"
    assert fetch_clip({**audio, "bytes": audio["bytes"] + 1}, http, DecodeChecks()).reason == "checksum"


def test_bytes_that_are_not_audio_fail_with_reason_decode(audio_server, http):
    audio = audio_server.add("noise.mp3", b"this is not an mp3 at all" * 40)
    outcome = fetch_clip(audio, http, DecodeChecks())
    assert (outcome.ok, outcome.reason) == (False, "decode")


def test_each_sha256_is_decode_checked_once_per_process_even_when_fetched_at_once():
    calls = []
    gate = threading.Event()

    def probe(data, sha256):
        calls.append(sha256)
        gate.wait(1)
        return 1.5

    checks = DecodeChecks(probe)
    results = []
    threads = [threading.Thread(target=lambda: results.append(checks.duration("s1", b"x"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    checks.duration("s2", b"y")
    assert results == [1.5] * 8
    assert calls == ["s1", "s2"]


def test_a_decode_failure_is_remembered_for_its_sha256():
    calls = []

    def probe(data, sha256):
        calls.append(sha256)
        raise DecodeError(sha256, "broken")

    checks = DecodeChecks(probe)
    for _ in range(3):
        with pytest.raises(DecodeError):
            checks.duration("bad", b"z")
    assert calls == ["bad"]


def test_ffprobe_reads_the_duration_of_a_clip(tiny_mp3):
    assert 0.2 < probe_duration(tiny_mp3, "sha") < 0.5


def test_fetch_outcome_failure_carries_reason_and_message():
    assert FetchOutcome.failure("fetch", "down") == FetchOutcome(False, "fetch", "down")
