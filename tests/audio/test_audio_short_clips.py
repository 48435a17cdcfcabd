"""Clips shorter than BS.1770's 0.4 s gating block are measured looped to ≥ 3 s, then limited."""

import pytest


@pytest.fixture(params=[0.2, 0.39], ids=["0.2s", "0.39s"])
def short_clip(request, lab):
    seconds = request.param
    speech = lab.excerpt(lab.speech(), f"short-speech-{seconds}.wav", start=0.6, seconds=seconds)
    return {
        "tone": lab.tone(f"short-tone-{seconds}.wav", dbfs=-5, seconds=seconds, hz=1000),
        "speech": lab.encode(speech, "mp3"),
    }, seconds


@pytest.mark.parametrize("kind", ["tone", "speech"])
def test_a_clip_shorter_than_one_gating_block_is_prepared_and_not_too_loud(short_clip, kind, lab, prepared_cache):
    """A 0.2 s or 0.39 s clip is prepared without error, keeps its length and peaks at most −1 dBTP."""
    clips, seconds = short_clip
    result, _ = prepared_cache(clips[kind])
    assert lab.ebur128(result.path).true_peak_dbtp <= -1.0
    assert result.duration_ms == pytest.approx(seconds * 1000, abs=50)


@pytest.mark.parametrize("kind", ["tone", "speech"])
def test_a_short_clip_looped_to_3_s_measures_minus_16_lufs(short_clip, kind, lab, prepared_cache):
    """The rule: loudness of a clip under 0.4 s is that of the clip repeated to ≥ 3 s, and that is −16 ± 1 LUFS."""
    clips, seconds = short_clip
    result, _ = prepared_cache(clips[kind])
    extra_plays = int(3.0 / seconds)
    assert lab.ebur128(result.path, loops=extra_plays).lufs == pytest.approx(-16.0, abs=1.0)
    assert result.loudness_lufs == pytest.approx(-16.0, abs=1.0)
