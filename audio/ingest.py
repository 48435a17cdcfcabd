"""Turn an uploaded recording into a stored, loudness-normalised broadcast MP3."""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    CorruptAudioError,
    EmptyFileError,
    LowSampleRateError,
    SilentAudioError,
    TooDenseError,
    TooLargeError,
    TooLongError,
)
from .identify import SourceInfo, describe
from .measurement import Scan, decode, scan_output
from .normalise import first_render, normalise
from .runner import Finished, ToolFailed, last_line, processing_timeout
from .store import store

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_SECONDS = 1800.0
# A decode this much shorter than the header's length means the end of the file is missing.
TRUNCATION_SLACK_S = 0.5
TRUNCATION_SLACK_SHARE = 0.02
# Headers count encoder delay and padding (an MP3's Xing frame count does), so a recording of
# exactly the limit may declare a little more; the decode that follows measures it exactly.
HEADER_SLACK_S = 0.5
# Telephone speech is sampled at 8 kHz; below it, not even a voice survives (a 100 Hz file holds nothing above 50 Hz).
MIN_SAMPLE_RATE = 8000
# Decoding cost follows channels × rate: 8 channels at 48 kHz (or mono at 384 kHz) is the most an upload may carry,
# so that max_seconds of it decodes in seconds. A few hundred KB of silent 8-channel 384 kHz FLAC took over a minute.
MAX_SAMPLES_PER_SECOND = 8 * 48_000


@dataclass(frozen=True)
class PreparedAudio:
    """Describe one stored broadcast file; every figure is measured on the stored MP3 itself."""

    sha256: str  # hex sha256 of the stored MP3 bytes
    path: Path  # media_dir / f"{sha256}.mp3"
    bytes: int
    duration_ms: int
    loudness_lufs: float  # integrated loudness measured on the final MP3
    true_peak_dbtp: float


def prepare(
    source: Path,
    media_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> PreparedAudio:
    """Check, normalise and store one recording; raise an AudioError subclass and store nothing if it is unfit.

    Accepts MP3, WAV, OGG (Vorbis, Opus), M4A/MP4 (AAC), raw ADTS AAC and FLAC, told apart by
    content; the name's extension only decides whether an unreadable file "claimed" to be audio
    (corrupt) or never was (not_audio), so keep the uploaded extension on `source`.
    Output: mono MP3, 44.1 kHz, 64 kbit/s CBR, −16 LUFS (aimed at ±0.3, never beyond ±1 LU),
    true peak ≤ −1 dBTP, stored as media_dir/<sha256>.mp3. Checks run cheapest first: size, then
    one ffmpeg that reports the headers (refusals of what is not audio, declared length) and decodes
    the whole file (damage, real length, loudness), stopping a little past max_seconds.
    Intermediates live in a temporary directory that is removed on success and on error alike.
    """
    source, media_dir = Path(source), Path(media_dir)
    size = source.stat().st_size
    if size == 0:
        raise EmptyFileError()
    if size > max_bytes:
        raise TooLargeError(size, max_bytes)
    with tempfile.TemporaryDirectory(prefix="loanet-audio-") as workdir:
        # The render starts now and waits for its gain: its start-up overlaps the measuring decode.
        first = first_render(source, Path(workdir))
        try:
            measured, info = _measure(source, max_seconds)
            timeout = processing_timeout(measured.seconds)
            rendered, final = normalise(source, Path(workdir), measured, timeout=timeout, first=first)
            stored = store(rendered, media_dir)
        finally:
            first.stop()
    log.info(
        "prepared %s -> %s: %d ms, %.1f LUFS, %.1f dBTP (source %s/%s, %.1f LUFS)",
        source.name, stored.path.name, final.duration_ms, final.lufs, final.true_peak_dbtp,
        info.format_name, info.codec_name, measured.lufs,
    )  # fmt: skip
    return PreparedAudio(
        sha256=stored.sha256,
        path=stored.path,
        bytes=stored.bytes,
        duration_ms=final.duration_ms,
        loudness_lufs=final.lufs,
        true_peak_dbtp=final.true_peak_dbtp,
    )


def _measure(source: Path, max_seconds: float) -> tuple[Scan, SourceInfo]:
    """Decode the whole source once, as mono, and refuse it if it is not audio, damaged, too long or silent."""
    # One ffmpeg reports the headers and then decodes: starting ffprobe as well would cost a short
    # upload as much as its whole decode. Its headers are judged before the first sample decodes, so three
    # hours that declare themselves cost no decode; the decode stops just past max_seconds whatever they declare.
    # The source's sample peak is enough to foresee the limiter; true peaks are measured on the MP3.
    judged: list[SourceInfo] = []

    def judge(report: str) -> None:
        judged.append(_check_headers(source, report, max_seconds))

    decode_timeout = processing_timeout(max_seconds)
    decoded = decode(source, mono=True, limit_seconds=max_seconds, timeout=decode_timeout, true_peak=False,
                     on_input=judge)
    info = judged[0] if judged else _check_headers(source, decoded.stderr, max_seconds)
    return _check_decoded(decoded, source, info, max_seconds=max_seconds, timeout=decode_timeout), info


def _check_headers(source: Path, report: str, max_seconds: float) -> SourceInfo:
    """Refuse from ffmpeg's report of the headers alone: not audio, sampled too slowly, too many samples a second to
    decode, or declared too long."""
    info = describe(source, report)
    if info.sample_rate and info.sample_rate < MIN_SAMPLE_RATE:  # 0: a header ffmpeg could not read, for the decode
        raise LowSampleRateError(info.sample_rate, MIN_SAMPLE_RATE)
    if info.sample_rate and info.channels and info.sample_rate * info.channels > MAX_SAMPLES_PER_SECOND:
        raise TooDenseError(info.channels, info.sample_rate, MAX_SAMPLES_PER_SECOND)
    declared = info.declared_seconds
    if declared and not info.declared_is_estimate and declared > max_seconds + HEADER_SLACK_S:
        raise TooLongError(declared, max_seconds)
    return info


def _check_decoded(decoded: Finished, source: Path, info: SourceInfo, *, max_seconds: float, timeout: float) -> Scan:
    """Read the one decode of the whole source, as mono, and refuse it if it is damaged, too long or silent."""
    try:
        measured = scan_output(decoded, source, mono=True, timeout=timeout)
    except ToolFailed as exc:
        log.info("decoding %s failed: %s", source, last_line(exc.stderr))
        raise CorruptAudioError("it cannot be decoded") from exc
    if measured.samples == 0:
        raise CorruptAudioError("it contains no decodable sound")
    # A WAV of unknown length ends where its writer stopped: its last, short packet is how it ends, not damage.
    if measured.damage_reports and not (info.length_unknown and info.codec_name.startswith("pcm_")):
        raise CorruptAudioError(f"{measured.damage_reports} part(s) of it could not be decoded")
    if measured.seconds > max_seconds:
        raise TooLongError(None, max_seconds)  # decoding stopped just past the limit
    declared = info.declared_seconds
    if declared and not info.declared_is_estimate:
        missing = declared - measured.seconds
        if missing > max(TRUNCATION_SLACK_S, TRUNCATION_SLACK_SHARE * declared):
            raise CorruptAudioError(
                f"it should last {declared:.1f} s but ends after {measured.seconds:.1f} s (the end is missing)"
            )
    if measured.is_silent:
        raise SilentAudioError()
    return measured
