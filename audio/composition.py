"""Compose one broadcast MP3 from prepared clips: [chime] + (parts in order) × repeat with gaps + [chime].

A cluster plays one clip per `play` command, so a programme (an announcement read three times with
a pause between, opened and closed by a chime) has to reach it as one file with one sha256.
The parts are decoded and joined sample-exactly with ffmpeg's concat filter into a lossless
intermediate, which then goes through the same normaliser as an upload: every MP3 generation
costs ~0.4 LU, so a plain re-encode of −16 LUFS parts would land near −16.5; normalising again
keeps a composed file to the exact contract of `prepare` (mono 44.1 kHz 64 kbit/s, −16 LUFS ±0.3,
true peak ≤ −1 dBTP), measured on the stored file itself.
"""

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .chime import chime as chime_clip
from .errors import CorruptAudioError, NotAudioError, ProcessingError, SilentAudioError, TooLongError
from .identify import identify
from .ingest import DEFAULT_MAX_SECONDS, PreparedAudio
from .measurement import MONO_FLOAT_44K, Scan, count_damage, scan
from .normalise import normalise
from .output_format import SAMPLE_RATE
from .programme import Segment, check_limits, play_order
from .runner import FFMPEG, ToolFailed, input_args, last_line, processing_timeout, run
from .store import store

log = logging.getLogger(__name__)

# An MP3's header length counts encoder delay and padding (~30–45 ms at 64 kbit/s) that decoding drops;
# the check on headers allows this much per clip, and the exact check on the joined audio follows.
HEADER_PADDING_S = 0.05
TOO_LONG_ADVICE = "Use fewer parts, fewer repetitions or shorter gaps, then compose it again."


def compose(
    parts: Sequence[Path | str],
    media_dir: Path | str,
    *,
    repeat: int = 1,
    gap_s: float = 0.0,
    chime: bool = False,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> PreparedAudio:
    """Join prepared clips into one stored MP3 and describe it as `prepare` describes an upload.

    Play order: the chime (if `chime`), then `parts` in order, all of it `repeat` times (1–10) with
    `gap_s` seconds of silence (0–300) between repetitions, then the chime again. At most 20 parts;
    the whole may last no longer than `max_seconds`, the limit `prepare` applies to one upload.
    Raises ProgrammeLimitError or TooLongError before any decoding when the request is out of
    bounds, CorruptAudioError naming the part that cannot be read, ProcessingError when a part is
    missing from the store or ffmpeg fails. Nothing is stored unless the result is complete.
    """
    parts = [Path(p) for p in parts]
    check_limits(parts, repeat=repeat, gap_s=gap_s)
    media_dir = Path(media_dir)
    lengths = _declared_lengths(parts)
    opener = chime_clip(media_dir) if chime else None
    if opener is not None:
        lengths[opener.path] = opener.duration_ms / 1000
    order = play_order(parts, repeat=repeat, gap_s=gap_s, chime=opener.path if opener else None)
    estimate = sum(lengths[s] if isinstance(s, Path) else s for s in order)
    clips = sum(isinstance(s, Path) for s in order)
    if estimate - HEADER_PADDING_S * clips > max_seconds:
        raise TooLongError(estimate, max_seconds, subject="The programme", advice=TOO_LONG_ADVICE)
    timeout = processing_timeout(min(estimate, max_seconds))
    with tempfile.TemporaryDirectory(prefix="loanet-compose-") as workdir:
        joined = Path(workdir) / "programme.wav"
        _join(order, joined, parts, limit_s=max_seconds + 1, timeout=timeout)
        measured = _check_joined(joined, max_seconds, timeout)
        rendered, final = normalise(joined, Path(workdir), measured, timeout=timeout)
        stored = store(rendered, media_dir)
    log.info(
        "composed %d part(s) × %d%s -> %s: %d ms, %.1f LUFS, %.1f dBTP",
        len(parts), repeat, " with chime" if chime else "", stored.path.name, final.duration_ms, final.lufs,
        final.true_peak_dbtp,
    )  # fmt: skip
    return PreparedAudio(
        sha256=stored.sha256,
        path=stored.path,
        bytes=stored.bytes,
        duration_ms=final.duration_ms,
        loudness_lufs=final.lufs,
        true_peak_dbtp=final.true_peak_dbtp,
    )


def _declared_lengths(parts: list[Path]) -> dict[Path, float]:
    """Read each distinct part's header length (0 if it declares none); refuse a part missing or unreadable."""
    lengths: dict[Path, float] = {}
    for number, path in enumerate(parts, start=1):
        if path in lengths:
            continue
        if not path.is_file():
            raise ProcessingError(f"part {number} ({path.name}) is missing from the media store")
        try:
            info = identify(path)
        except (CorruptAudioError, NotAudioError) as exc:
            raise CorruptAudioError(f"part {number} ({path.name}) cannot be read as audio") from exc
        lengths[path] = info.declared_seconds or 0.0
    return lengths


def _join(order: list[Segment], out: Path, parts: list[Path], *, limit_s: float, timeout: float) -> None:
    """Decode and concatenate the play order into a mono 44.1 kHz WAV; blame the part that breaks it."""
    inputs: list[str] = []
    chains: list[str] = []
    opened = 0
    for index, segment in enumerate(order):
        if isinstance(segment, Path):
            # One input per occurrence: a filter graph reads each input once, and decoding MP3 is cheap.
            chains.append(f"[{opened}:a:0]{MONO_FLOAT_44K}[s{index}]")
            inputs += input_args(segment)
            opened += 1
        else:
            samples = round(segment * SAMPLE_RATE)
            chains.append(f"anullsrc=r={SAMPLE_RATE}:cl=mono,atrim=end_sample={samples},{MONO_FLOAT_44K}[s{index}]")
    labels = "".join(f"[s{i}]" for i in range(len(order)))
    graph = ";".join([*chains, f"{labels}concat=n={len(order)}:v=0:a=1[out]"])
    argv = [
        FFMPEG, "-nostdin", "-hide_banner", "-nostats", *inputs, "-filter_complex", graph, "-map", "[out]",
        "-t", f"{limit_s:.3f}", "-c:a", "pcm_s16le", "-f", "wav", "-y", f"file:{out}",
    ]  # fmt: skip
    done = run(argv, timeout=timeout)
    if done.returncode != 0 or count_damage(done.stderr):
        _blame(parts, timeout)
        raise ProcessingError(f"joining the parts failed ({last_line(done.stderr)})")


def _blame(parts: list[Path], timeout: float) -> None:
    """Decode each distinct part alone and raise CorruptAudioError for the first that is damaged."""
    for path in dict.fromkeys(parts):
        try:
            damaged = scan(path, mono=True, timeout=timeout).damage_reports > 0
        except ToolFailed:
            damaged = True
        if damaged:
            number = parts.index(path) + 1
            raise CorruptAudioError(f"part {number} ({path.name}) cannot be decoded completely")


def _check_joined(joined: Path, max_seconds: float, timeout: float) -> Scan:
    """Measure the joined audio once: its exact length decides the limit, its loudness feeds the normaliser."""
    try:
        measured = scan(joined, mono=True, timeout=timeout)
    except ToolFailed as exc:
        raise ProcessingError(f"the joined programme could not be measured ({last_line(exc.stderr)})") from exc
    if measured.seconds > max_seconds:
        # At limit_s the join was cut short, so the real length is not known.
        known = measured.seconds if measured.seconds < max_seconds + 1 else None
        raise TooLongError(known, max_seconds, subject="The programme", advice=TOO_LONG_ADVICE)
    if measured.is_silent:
        raise SilentAudioError()
    return measured
