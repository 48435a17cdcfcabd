"""Every accepted format comes out as a −16 LUFS, ≤ −1 dBTP, mono 64 kbit/s MP3 named by its sha256."""

import hashlib

import pytest

import audio

SIGNALS = {
    "speech": lambda lab: lab.speech(),
    "tone-35dBFS": lambda lab: lab.tone("tone-35dBFS.wav", dbfs=-35, seconds=4),
    "tone-5dBFS": lambda lab: lab.tone("tone-5dBFS.wav", dbfs=-5, seconds=4, hz=1000),
    "stereo-noise": lambda lab: lab.stereo_noise("stereo-noise.wav", amplitude=0.3, seconds=4),
}
# Speech in every format; each synthetic level in three, so every format also sees a non-speech input.
CASES = [("speech", fmt) for fmt in ("mp3", "wav", "ogg-vorbis", "ogg-opus", "m4a-aac", "adts-aac", "flac")] + [
    ("tone-35dBFS", "mp3"),
    ("tone-35dBFS", "ogg-opus"),
    ("tone-35dBFS", "flac"),
    ("tone-5dBFS", "wav"),
    ("tone-5dBFS", "m4a-aac"),
    ("tone-5dBFS", "ogg-vorbis"),
    ("stereo-noise", "wav"),
    ("stereo-noise", "adts-aac"),
    ("stereo-noise", "mp3"),
]
IDS = [f"{signal}-{fmt}" for signal, fmt in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(request, lab, prepared_cache):
    signal, fmt = request.param
    source = lab.encode(SIGNALS[signal](lab), fmt)
    result, media = prepared_cache(source)
    return source, result, media


def test_loudness_is_within_1_lu_of_minus_16_lufs_measured_independently(case, lab):
    """The stored MP3 measures −16 ± 1 LUFS with ffmpeg's ebur128, and prepare reports that same figure."""
    _, result, _ = case
    measured = lab.ebur128(result.path)
    assert measured.lufs == pytest.approx(-16.0, abs=1.0)
    assert result.loudness_lufs == pytest.approx(measured.lufs, abs=0.05)


def test_true_peak_is_at_most_minus_1_dbtp(case, lab):
    """The stored MP3, as decoded, never exceeds −1 dBTP: prepare checks the encoded file, so no tolerance."""
    _, result, _ = case
    measured = lab.ebur128(result.path)
    assert measured.true_peak_dbtp <= -1.0
    assert result.true_peak_dbtp == pytest.approx(measured.true_peak_dbtp, abs=0.05)


def test_output_is_mono_mp3_at_64_kbits_and_44_1_khz(case, lab):
    """The stored file is MP3, one channel, 64 kbit/s constant bitrate, 44.1 kHz."""
    _, result, _ = case
    stream = lab.stream(result.path)
    assert stream["codec_name"] == "mp3"
    assert stream["channels"] == 1
    assert int(stream["sample_rate"]) == 44_100
    assert int(stream["bit_rate"]) == 64_000


def test_duration_matches_the_decoded_input_within_50_ms(case, lab):
    """The output lasts as long as the input decodes to (±50 ms), and duration_ms says so."""
    source, result, _ = case
    expected_ms = lab.decoded_ms(source)
    assert lab.decoded_ms(result.path) == pytest.approx(expected_ms, abs=50)
    assert result.duration_ms == pytest.approx(expected_ms, abs=50)


def test_file_is_named_by_the_sha256_of_its_bytes_and_is_the_only_file(case):
    """media_dir holds exactly <sha256>.mp3, whose bytes hash to that name and number `bytes`."""
    _, result, media = case
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.path == media / f"{result.sha256}.mp3"
    assert result.bytes == len(data)
    assert sorted(p.name for p in media.iterdir()) == [result.path.name]


def test_measure_and_probe_agree_with_the_prepared_result(lab, prepared_cache):
    """The public measure() and probe() helpers read back what prepare() reported."""
    result, _ = prepared_cache(lab.encode(lab.speech(), "wav"))
    loudness = audio.measure(result.path)
    assert loudness == audio.Loudness(result.loudness_lufs, result.true_peak_dbtp)
    assert audio.probe(result.path) == result.duration_ms
