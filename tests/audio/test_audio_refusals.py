"""Each unfit input raises its own AudioError subclass with its code, and nothing is left behind."""

import random

import pytest

import audio
from tests.support.leftovers import child_processes, open_descriptors


def _empty(lab):
    path = lab.path("empty.mp3")
    path.write_bytes(b"")
    return path, {}


def _too_large(lab):
    # Junk on purpose: the size check must come before anything tries to decode it.
    path = lab.path("large-junk.wav")
    path.write_bytes(random.Random(7).randbytes(4096))
    return path, {"max_bytes": 4095}


def _too_long(lab):
    return lab.tone("five-seconds.wav", dbfs=-20, seconds=5), {"max_seconds": 2.0}


def _truncated_flac(lab):
    whole = lab.encode(lab.tone("four-seconds.wav", dbfs=-20, seconds=4), "flac")
    return lab.first_half(whole, "half-of-four-seconds.flac"), {}


def _too_long_by_header(lab):
    # Declares 4 s but only ~2 s decode: refusing it as too_long shows the header was read, not the audio.
    path, _ = _truncated_flac(lab)
    return path, {"max_seconds": 3.0}


def _too_long_without_length_header(lab):
    # Raw ADTS AAC has no length header (ffprobe only estimates it), so the decode must catch it.
    return lab.encode(lab.tone("five-seconds.wav", dbfs=-20, seconds=5), "adts-aac"), {"max_seconds": 2.0}


def _png(lab):
    return lab.png("picture.png"), {}


def _png_named_mp3(lab):
    return lab.png("picture-named.mp3"), {}


def _text(lab):
    path = lab.path("notes.txt")
    path.write_text("Thông báo: họp tổ dân phố lúc 19 giờ.\n", encoding="utf-8")
    return path, {}


def _video_only(lab):
    return lab.video_only("video-only.mp4"), {}


def _truncated_mp3(lab):
    whole = lab.encode(lab.tone("mp3-source.wav", dbfs=-20, seconds=4), "mp3")
    return lab.first_half(whole, "truncated.mp3"), {}


def _garbled_mp3(lab):
    data = bytearray(lab.encode(lab.speech(), "mp3").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 1500] = random.Random(3).randbytes(1500)
    path = lab.path("garbled.mp3")
    path.write_bytes(bytes(data))
    return path, {}


def _random_bytes_wav(lab):
    path = lab.path("random.wav")
    path.write_bytes(random.Random(1).randbytes(20_000))
    return path, {}


def _click_train(lab):
    # One full-scale sample a second: all its loudness is in peaks the limiter must remove.
    path = lab.path("clicks.wav")
    expression = "aevalsrc='if(eq(mod(n\\,44100)\\,0)\\,0.9\\,0)':s=44100:d=4"
    lab.lavfi(expression, path)
    return path, {}


def _silence(lab):
    return lab.silence("silence.wav", seconds=3), {}


def _short_silence(lab):
    return lab.silence("short-silence.wav", seconds=0.2), {}


REFUSALS = [
    ("a 0-byte file is refused as empty", _empty, audio.EmptyFileError),
    ("a file over max_bytes is refused as too_large before decoding", _too_large, audio.TooLargeError),
    ("a recording over max_seconds is refused as too_long", _too_long, audio.TooLongError),
    ("a header declaring more than max_seconds is refused as too_long before decoding", _too_long_by_header,
     audio.TooLongError),
    ("a recording with no length header is refused as too_long once decoded", _too_long_without_length_header,
     audio.TooLongError),
    ("a PNG image is refused as not_audio", _png, audio.NotAudioError),
    ("a PNG image named .mp3 is still refused as not_audio", _png_named_mp3, audio.NotAudioError),
    ("a text file is refused as not_audio", _text, audio.NotAudioError),
    ("a video without a sound track is refused as not_audio", _video_only, audio.NotAudioError),
    ("a truncated mp3 is refused as corrupt", _truncated_mp3, audio.CorruptAudioError),
    ("a truncated flac is refused as corrupt", _truncated_flac, audio.CorruptAudioError),
    ("an mp3 with garbled frames is refused as corrupt", _garbled_mp3, audio.CorruptAudioError),
    ("random bytes named .wav are refused as corrupt", _random_bytes_wav, audio.CorruptAudioError),
    ("digital silence is refused as silent", _silence, audio.SilentAudioError),
    ("a 0.2 s clip of digital silence is refused as silent", _short_silence, audio.SilentAudioError),
    ("isolated clicks that no gain lifts to -16 LUFS under the peak ceiling are refused", _click_train,
     audio.LoudnessUnreachableError),
]  # fmt: skip


CODES = {
    audio.EmptyFileError: "empty",
    audio.TooLargeError: "too_large",
    audio.TooLongError: "too_long",
    audio.NotAudioError: "not_audio",
    audio.CorruptAudioError: "corrupt",
    audio.SilentAudioError: "silent",
    audio.LoudnessUnreachableError: "loudness_unreachable",
    audio.ProgrammeLimitError: "programme_limit",  # compose() only
}


@pytest.mark.parametrize(("rule", "build", "error"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_unfit_input_is_refused_with_its_own_error_and_stores_nothing(rule, build, error, lab, media_dir, isolated_tmp):
    """Each rule in REFUSALS: its class and code, a sentence for people, an empty media_dir and no temp files; the
    render started ahead of the measuring is stopped: no process and no descriptor outlives the refusal."""
    source, limits = build(lab)
    descriptors = open_descriptors()
    with pytest.raises(error) as caught:
        audio.prepare(source, media_dir, **limits)
    assert child_processes() == [] and open_descriptors() == descriptors
    assert caught.value.code == CODES[error]
    assert isinstance(caught.value, audio.AudioError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("The ") and str(caught.value).endswith(".")
    assert list(media_dir.iterdir()) == []
    assert list(isolated_tmp.iterdir()) == []


def test_each_refusal_has_its_own_class_and_code():
    """Callers can branch on either the class or the code: both are unique per case."""
    assert len(set(CODES.values())) == len(CODES)
    assert all(issubclass(cls, audio.AudioError) and cls.code == code for cls, code in CODES.items())
    assert audio.ProcessingError.code not in CODES.values()


def test_a_missing_ffmpeg_is_a_processing_error_not_a_crash(lab, media_dir, isolated_tmp, monkeypatch):
    """Without ffmpeg/ffprobe on PATH, prepare raises ProcessingError (processing_failed) and stores nothing."""
    source = lab.tone("tone-for-missing-tools.wav", dbfs=-20, seconds=1)
    monkeypatch.setenv("PATH", str(isolated_tmp.parent / "empty-path"))
    with pytest.raises(audio.ProcessingError) as caught:
        audio.prepare(source, media_dir)
    assert caught.value.code == "processing_failed"
    assert list(media_dir.iterdir()) == []
    assert list(isolated_tmp.iterdir()) == []
