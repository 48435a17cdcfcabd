"""Speech is measured once and rendered once; a render whose check misses is redone, and the log says so."""

import logging

import pytest

import audio
from audio import normalise

RERENDER_WARNING = "rendering again"


def _rerenders(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "audio.normalise" and RERENDER_WARNING in r.message]


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a-aac"])
def test_speech_lands_on_target_in_one_render(fmt, lab, tmp_path, caplog):
    """The first gain allows for what the limiter takes from speech, so its first MP3 passes the check."""
    source = lab.encode(lab.speech(), fmt, name=f"one-render-{fmt}")
    with caplog.at_level(logging.WARNING, logger="audio.normalise"):
        result = audio.prepare(source, tmp_path / "media")
    assert _rerenders(caplog) == []
    assert lab.ebur128(result.path).lufs == pytest.approx(-16.0, abs=0.3)


def test_a_render_that_misses_the_target_is_redone_logged_and_then_on_target(lab, tmp_path, caplog, monkeypatch):
    """When the MP3 is off target the render is repeated with a corrected gain, and a warning records it."""
    # Aim 3 LU too loud: the first render must miss, as an unusual sound would miss the speech estimate.
    monkeypatch.setattr(normalise, "MP3_LOUDNESS_LOSS_LU", normalise.MP3_LOUDNESS_LOSS_LU + 3.0)
    source = lab.tone("rerender-tone.wav", dbfs=-30, seconds=3, hz=1000)
    with caplog.at_level(logging.WARNING, logger="audio.normalise"):
        result = audio.prepare(source, tmp_path / "media")
    assert len(_rerenders(caplog)) >= 1
    assert "render 1 of rerender-tone.wav missed" in _rerenders(caplog)[0]
    measured = lab.ebur128(result.path)
    assert measured.lufs == pytest.approx(-16.0, abs=0.3)
    assert measured.true_peak_dbtp <= -1.0
    assert result.loudness_lufs == pytest.approx(measured.lufs, abs=0.05)


def test_only_the_kept_render_is_stored(lab, tmp_path, monkeypatch):
    """After a repeated render, media_dir holds the one file that passed, under its own sha256."""
    monkeypatch.setattr(normalise, "MP3_LOUDNESS_LOSS_LU", normalise.MP3_LOUDNESS_LOSS_LU + 3.0)
    media = tmp_path / "media"
    result = audio.prepare(lab.tone("rerender-stored.wav", dbfs=-30, seconds=3, hz=1000), media)
    assert [p.name for p in media.iterdir()] == [f"{result.sha256}.mp3"]


def test_a_check_that_fails_is_a_processing_error_and_stores_nothing(lab, media_dir, isolated_tmp, monkeypatch):
    """If the measuring of the MP3 fails, prepare says the encoded file could not be measured and keeps nothing."""
    monkeypatch.setattr(normalise, "stream_scan_argv", lambda samples: ["ffmpeg", "-no-such-option", "-"])
    with pytest.raises(audio.ProcessingError, match="could not be measured"):
        audio.prepare(lab.speech(), media_dir)
    assert list(media_dir.iterdir()) == []
    assert list(isolated_tmp.iterdir()) == []
