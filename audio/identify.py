"""Tell, from headers alone, whether a file holds accepted audio and how long it says it lasts."""

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptAudioError, NotAudioError
from .runner import FFPROBE, PROBE_TIMEOUT_S, input_args, last_line, run

log = logging.getLogger(__name__)

# A name with one of these endings claims to be audio: if it cannot be read it is corrupt, not "not audio".
AUDIO_SUFFIXES = frozenset({".mp3", ".wav", ".wave", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".flac"})

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an office document"),
)
_NOT_WHITELISTED = re.compile(r"\[(?P<demuxer>[\w,]+) @ [^\]]*\] Format not on whitelist")
# The input part of the report ffmpeg prints before decoding (-v info): container, length, streams.
_INPUT = re.compile(r"^Input #0, (?P<format>\S+?),? from ", re.M)
# The end of that report: ffmpeg has read the headers and is about to decode.
INPUT_REPORTED = re.compile(r"^(?:Stream mapping:|Output #0)", re.M)
_DURATION = re.compile(r"^\s+Duration: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)", re.M)
_STREAM = re.compile(r"^\s+Stream #0:\d+\S*: (?P<kind>\w+): (?P<codec>\w+)(?P<rest>.*)$", re.M)
_RATE = re.compile(r", (?P<hz>\d+) Hz, (?P<layout>[^,]+)")
# ffmpeg names a layout ("5.1", "7.1(wide)", "quad") or counts it ("12 channels").
_COUNTED = re.compile(r"^(?P<n>\d+) channels")
_DOTTED = re.compile(r"^(?P<main>\d+)\.(?P<lfe>\d+)")
_NAMED = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "hexadecagonal": 16}
_ESTIMATED = "Estimating duration from bitrate"
# A WAV written as a stream (to a pipe) says "length unknown" with a size of 0xFFFFFFFF: it ends where the file ends.
_WAV_STREAMED = "Ignoring maximum wav data size"


@dataclass(frozen=True)
class SourceInfo:
    format_name: str
    codec_name: str
    declared_seconds: float | None
    # ffprobe guessed the length from the bitrate, so neither a shortfall nor an excess proves anything.
    declared_is_estimate: bool
    sample_rate: int | None = None
    channels: int | None = None
    # The writer said it did not know the length (a streamed WAV), so the file ends mid-packet by design.
    length_unknown: bool = False


def identify(source: Path) -> SourceInfo:
    """Read the container headers; raise NotAudioError or CorruptAudioError if they say no."""
    argv = [
        FFPROBE, "-v", "warning", "-hide_banner", *input_args(source),
        "-show_entries", "format=format_name,duration:stream=index,codec_type,codec_name,duration,sample_rate,channels",
        "-of", "json",
    ]  # fmt: skip
    done = run(argv, timeout=PROBE_TIMEOUT_S)
    if done.returncode != 0:
        raise _unreadable(source, done.stderr)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CorruptAudioError("its headers cannot be read") from exc
    streams = report.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        kinds = sorted({str(s.get("codec_type", "unknown")) for s in streams}) or ["nothing"]
        raise NotAudioError(f"contains no sound (only {', '.join(kinds)})")
    stream, container = audio[0], report.get("format", {})
    info = SourceInfo(
        format_name=container.get("format_name", "?"),
        codec_name=stream.get("codec_name", "?"),
        declared_seconds=_seconds(stream.get("duration")) or _seconds(container.get("duration")),
        declared_is_estimate=_ESTIMATED in done.stderr,
        sample_rate=_whole(stream.get("sample_rate")),
        channels=_whole(stream.get("channels")),
        length_unknown=_WAV_STREAMED in done.stderr,
    )
    log.debug("identified %s as %s", source, info)
    return info


def describe(source: Path, stderr: str) -> SourceInfo:
    """Read the headers from the report of the ffmpeg that decoded `source`, with the verdicts `identify` gives."""
    opened = _INPUT.search(stderr)
    if opened is None:
        raise _unreadable(source, stderr)
    report = stderr[opened.start() :]
    end = INPUT_REPORTED.search(report)
    report = report[: end.start()] if end else report
    streams = list(_STREAM.finditer(report))
    audio = [m for m in streams if m["kind"].lower() == "audio"]
    if not audio:
        kinds = sorted({m["kind"].lower() for m in streams}) or ["nothing"]
        raise NotAudioError(f"contains no sound (only {', '.join(kinds)})")
    rate = _RATE.search(audio[0]["rest"])
    info = SourceInfo(
        format_name=opened["format"],
        codec_name=audio[0]["codec"],
        declared_seconds=_reported_seconds(_DURATION.search(report)),
        declared_is_estimate=_ESTIMATED in stderr,
        sample_rate=int(rate["hz"]) if rate else None,
        channels=_channels(rate["layout"]) if rate else None,
        length_unknown=_WAV_STREAMED in stderr,
    )
    log.debug("described %s as %s", source, info)
    return info


def _unreadable(source: Path, stderr: str) -> NotAudioError | CorruptAudioError:
    """Decide between "never was audio" and "audio, but damaged" for a file ffprobe or ffmpeg cannot open."""
    found = sniff(source)
    not_whitelisted = _NOT_WHITELISTED.search(stderr)
    if not_whitelisted:
        # ffmpeg recognised the content, as something we do not accept.
        demuxer = not_whitelisted["demuxer"].split(",")[0]
        return NotAudioError(f"is not in an accepted audio format (it looks like {found or demuxer + ' data'})")
    if found:
        return NotAudioError(f"is not audio (it looks like {found})")
    log.info("ffprobe could not open %s: %s", source, last_line(stderr))
    if source.suffix.lower() in AUDIO_SUFFIXES:
        return CorruptAudioError(f"it is named {source.suffix.lower()} but its content cannot be read as audio")
    return NotAudioError("is not recognised as audio")


def sniff(path: Path) -> str | None:
    """Name a common non-audio kind of file from its first bytes, or return None."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head and b"\x00" not in head and _is_utf8(head):
        return "a text file"
    return None


def _is_utf8(head: bytes) -> bool:
    """Accept text whose last character the 4 KiB cut may have split."""
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def _reported_seconds(length: re.Match | None) -> float | None:
    """Turn ffmpeg's "Duration: 00:03:00.07" into seconds; None where it says N/A."""
    if length is None:
        return None
    return _seconds(int(length["h"]) * 3600 + int(length["m"]) * 60 + float(length["s"]))


def _channels(layout: str) -> int | None:
    """Count the channels of a layout as ffmpeg reports it; None for a name it has not been taught."""
    if counted := _COUNTED.match(layout):
        return int(counted["n"])
    if dotted := _DOTTED.match(layout):
        return int(dotted["main"]) + int(dotted["lfe"])
    return _NAMED.get(layout.split("(")[0].strip())


def _whole(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
