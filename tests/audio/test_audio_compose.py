"""compose() joins prepared clips into one programme: lengths add up, format and loudness match prepare()."""

import hashlib
import importlib
import random
from pathlib import Path

import pytest

import audio
from audio.chime import CHIME_SECONDS, chime
from audio.programme import MAX_GAP_S, MAX_PARTS, MAX_REPEAT

# The package exports the function compose under the module's own name, so reach the module this way.
compose_module = importlib.import_module("audio.composition")
# A concat join is sample-exact; this allows for millisecond rounding and any MP3 edge effect per join.
JOIN_SLACK_MS = 50
LOW_TONE_HZ, HIGH_TONE_HZ = 440, 1760
# Passes the low tone and takes the high one down by ~60 dB: tells the two parts apart in the output.
LOW_ONLY = "lowpass=f=600,lowpass=f=600,lowpass=f=600"
# Passes the chime's first tone (659 Hz) and takes the 440 Hz part down by ~35 dB.
DING_ONLY = "bandpass=f=659.25:width_type=q:width=10,bandpass=f=659.25:width_type=q:width=10"


@pytest.fixture(scope="module")
def parts(lab, prepared_cache) -> tuple[audio.PreparedAudio, audio.PreparedAudio]:
    """Two prepared clips: 1.0 s of a low tone, 0.7 s of a high tone."""
    low, _ = prepared_cache(lab.tone("compose-low.wav", dbfs=-20, seconds=1.0, hz=LOW_TONE_HZ))
    high, _ = prepared_cache(lab.tone("compose-high.wav", dbfs=-20, seconds=0.7, hz=HIGH_TONE_HZ))
    return low, high


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("composed")


@pytest.fixture(scope="module")
def sequence(parts, output_dir) -> audio.PreparedAudio:
    low, high = parts
    return audio.compose([low.path, high.path], output_dir)


@pytest.fixture(scope="module")
def programme(parts, output_dir) -> audio.PreparedAudio:
    """Chime, (low + high) three times with 0.5 s between, chime."""
    low, high = parts
    return audio.compose([low.path, high.path], output_dir, repeat=3, gap_s=0.5, chime=True)


# ----- lengths and order


def test_parts_play_in_order_and_their_lengths_add_up(parts, sequence, lab):
    """low + high lasts as long as both, measured by compose and by an independent decode; low comes first."""
    low, high = parts
    expected = low.duration_ms + high.duration_ms
    assert sequence.duration_ms == pytest.approx(expected, abs=JOIN_SLACK_MS)
    assert lab.decoded_ms(sequence.path) == pytest.approx(expected, abs=JOIN_SLACK_MS)
    first = lab.mean_volume_db(sequence.path, start=0.1, end=0.9, through=LOW_ONLY)
    second = lab.mean_volume_db(sequence.path, start=1.1, end=1.6, through=LOW_ONLY)
    assert first - second > 30, (first, second)


def test_repeats_with_gaps_and_chimes_add_up(parts, programme, lab):
    """2 chimes + 3 × (low + high) + 2 gaps of 0.5 s, within 50 ms per join."""
    low, high = parts
    rounds = low.duration_ms + high.duration_ms
    expected = 2 * CHIME_SECONDS * 1000 + 3 * rounds + 2 * 500
    joins = 2 + 3 * 2 + 2
    assert programme.duration_ms == pytest.approx(expected, abs=JOIN_SLACK_MS * joins)
    assert lab.decoded_ms(programme.path) == pytest.approx(expected, abs=JOIN_SLACK_MS * joins)


def test_the_gap_between_repetitions_is_silent_and_the_rounds_are_not(parts, programme, lab):
    low, high = parts
    round_s = (low.duration_ms + high.duration_ms) / 1000
    gap_start = CHIME_SECONDS + round_s
    assert lab.mean_volume_db(programme.path, start=gap_start + 0.1, end=gap_start + 0.4) < -60
    second_round = gap_start + 0.5
    assert lab.mean_volume_db(programme.path, start=second_round + 0.1, end=second_round + 0.9) > -30


def test_a_chime_opens_and_closes_the_programme(parts, output_dir, lab):
    """The ding (659 Hz) sounds at the start and 1.2 s before the end, and not during the 440 Hz part."""
    low, _ = parts
    result = audio.compose([low.path], output_dir, chime=True)
    assert result.duration_ms == pytest.approx(low.duration_ms + 2 * CHIME_SECONDS * 1000, abs=3 * JOIN_SLACK_MS)
    closing = result.duration_ms / 1000 - CHIME_SECONDS
    opening_ding = lab.mean_volume_db(result.path, start=0.02, end=0.25, through=DING_ONLY)
    closing_ding = lab.mean_volume_db(result.path, start=closing + 0.02, end=closing + 0.25, through=DING_ONLY)
    in_the_part = lab.mean_volume_db(result.path, start=CHIME_SECONDS + 0.2, end=closing - 0.2, through=DING_ONLY)
    levels = (opening_ding, closing_ding, in_the_part)
    assert opening_ding - in_the_part > 20 and closing_ding - in_the_part > 20, levels


def test_the_chime_is_a_prepared_clip_at_broadcast_loudness_made_once_per_media_dir(output_dir, lab):
    first = chime(output_dir)
    assert first.duration_ms == CHIME_SECONDS * 1000
    assert first.path == output_dir.resolve() / f"{first.sha256}.mp3"
    assert lab.ebur128(first.path).lufs == pytest.approx(-16.0, abs=0.5)
    assert chime(output_dir) is first


# ----- format, loudness, storage


def test_the_output_has_the_format_prepare_gives(parts, programme, lab):
    """mono MP3, 44.1 kHz, 64 kbit/s, like every prepared clip, so clusters can play it."""
    fields = ("codec_name", "sample_rate", "channels", "bit_rate")
    composed, prepared = lab.stream(programme.path), lab.stream(parts[0].path)
    assert {f: composed[f] for f in fields} == {f: prepared[f] for f in fields}
    assert (composed["codec_name"], composed["sample_rate"], composed["channels"]) == ("mp3", "44100", 1)
    assert composed["bit_rate"] == "64000"


def test_the_output_is_at_minus_16_lufs_and_reports_its_measured_loudness(programme, lab):
    measured = lab.ebur128(programme.path)
    assert measured.lufs == pytest.approx(-16.0, abs=1.0)
    assert programme.loudness_lufs == pytest.approx(measured.lufs, abs=0.2)
    assert measured.true_peak_dbtp <= -1.0 and programme.true_peak_dbtp <= -1.0


def test_the_output_is_stored_by_the_sha256_of_its_bytes_and_composing_again_reuses_it(parts, sequence, output_dir):
    data = sequence.path.read_bytes()
    assert sequence.path == output_dir / f"{sequence.sha256}.mp3"
    assert hashlib.sha256(data).hexdigest() == sequence.sha256 and len(data) == sequence.bytes
    low, high = parts
    assert audio.compose([str(low.path), str(high.path)], output_dir) == sequence


# ----- refusals


LIMITS = [
    pytest.param({"repeat": 0}, "1 to 10 times", id="repeat-0"),
    pytest.param({"repeat": MAX_REPEAT + 1}, "1 to 10 times", id="repeat-11"),
    pytest.param({"repeat": 2.0}, "1 to 10 times", id="repeat-not-int"),
    pytest.param({"gap_s": -1}, "0 to 300 s", id="negative-gap"),
    pytest.param({"gap_s": MAX_GAP_S + 1}, "0 to 300 s", id="gap-301"),
    pytest.param({"gap_s": float("nan")}, "not a number", id="gap-nan"),
    pytest.param({"count": MAX_PARTS + 1}, "21 parts", id="21-parts"),
    pytest.param({"count": 0}, "no parts", id="no-parts"),
]


@pytest.mark.parametrize(("ask", "words"), LIMITS)
def test_a_programme_outside_the_limits_is_refused_before_anything_runs(parts, ask, words, media_dir, isolated_tmp):
    ask = dict(ask)
    clips = [parts[0].path] * ask.pop("count", 1)
    with pytest.raises(audio.ProgrammeLimitError) as caught:
        audio.compose(clips, media_dir, **ask)
    assert caught.value.code == "programme_limit" and isinstance(caught.value, audio.AudioError)
    assert words in caught.value.message
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_a_programme_longer_than_max_seconds_is_refused_from_the_headers(parts, media_dir, isolated_tmp):
    low, _ = parts
    with pytest.raises(audio.TooLongError) as caught:
        audio.compose([low.path], media_dir, repeat=3, gap_s=1, max_seconds=4.0)
    assert caught.value.code == "too_long"
    assert caught.value.message.startswith("The programme lasts 5")
    assert "fewer repetitions" in caught.value.message
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_the_exact_length_is_checked_again_after_joining(parts, media_dir, isolated_tmp, monkeypatch):
    """Headers only estimate; the decoded length decides, so a programme headers let through is still refused."""
    monkeypatch.setattr(compose_module, "HEADER_PADDING_S", 10.0)
    low, _ = parts
    with pytest.raises(audio.TooLongError) as caught:
        audio.compose([low.path], media_dir, repeat=3, max_seconds=2.5)
    assert caught.value.message.startswith("The programme lasts 3")
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_a_missing_part_is_a_processing_error_naming_the_part(parts, media_dir, tmp_path, isolated_tmp):
    gone = tmp_path / f"{'0' * 64}.mp3"
    with pytest.raises(audio.ProcessingError) as caught:
        audio.compose([parts[0].path, gone], media_dir)
    assert f"part 2 ({gone.name}) is missing" in caught.value.message
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_a_part_that_is_not_audio_is_refused_as_corrupt_naming_the_part(parts, media_dir, tmp_path, isolated_tmp):
    text = tmp_path / "notes.mp3"
    text.write_text("Thông báo: họp tổ dân phố lúc 19 giờ.\n", encoding="utf-8")
    with pytest.raises(audio.CorruptAudioError) as caught:
        audio.compose([text, parts[0].path], media_dir)
    assert "part 1 (notes.mp3) cannot be read as audio" in caught.value.message
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_a_part_with_garbled_frames_is_refused_as_corrupt_naming_the_part(parts, media_dir, tmp_path, isolated_tmp):
    data = bytearray(parts[0].path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 1500] = random.Random(3).randbytes(1500)
    garbled = tmp_path / "garbled.mp3"
    garbled.write_bytes(bytes(data))
    with pytest.raises(audio.CorruptAudioError) as caught:
        audio.compose([parts[1].path, garbled, parts[1].path], media_dir, repeat=2)
    assert "part 2 (garbled.mp3) cannot be decoded" in caught.value.message
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []


def test_a_missing_ffmpeg_is_a_processing_error(parts, media_dir, isolated_tmp, monkeypatch):
    monkeypatch.setenv("PATH", str(isolated_tmp.parent / "empty-path"))
    with pytest.raises(audio.ProcessingError):
        audio.compose([parts[0].path], media_dir)
    assert list(media_dir.iterdir()) == [] and list(isolated_tmp.iterdir()) == []
