"""Render a source to broadcast MP3 at −16 LUFS with true peak ≤ −1 dBTP, checked on the encoded file."""

import logging
from pathlib import Path

from .errors import LoudnessUnreachableError, ProcessingError
from .measurement import MONO_FLOAT_44K, Scan, scan
from .output_format import BITRATE, LOUDNESS_TOLERANCE_LU, MAX_TRUE_PEAK_DBTP, SAMPLE_RATE, TARGET_LUFS
from .runner import FFMPEG, ToolFailed, input_args, last_line, run

log = logging.getLogger(__name__)

MAX_RENDERS = 5
# Start below the −1 dBTP ceiling: resampling back down and MP3 coding add up to ~0.8 dB (30 min of speech).
FIRST_LIMIT_DBTP = -2.0
# Extra margin taken off the limiter for each overshoot the encoded file still shows.
LIMIT_STEP_DB = 0.5
LOWEST_LIMIT_DBTP = -12.0
# Limiting costs speech 1–4 LU, a quiet take with one mic bump ~12; beyond that gain only lifts noise.
MAX_EXTRA_GAIN_DB = 20.0
# The contract: a stored file is within this of the target, or it is not stored.
ACCEPTABLE_ERROR_LU = 1.0
# Measured: ffmpeg's libmp3lame output reads 0.4–0.5 LU quieter than its input (a 1 kHz sine at
# 64 and 128 kbit/s, espeak speech). Aiming that much higher saves a render for most inputs.
MP3_LOUDNESS_LOSS_LU = 0.4
# The limiter runs at four times the output rate, so the peaks it holds are (nearly) true peaks.
OVERSAMPLED_RATE = 4 * SAMPLE_RATE


def normalise(source: Path, workdir: Path, measured: Scan, *, timeout: float) -> tuple[Path, Scan]:
    """Render `source` into `workdir` and return the MP3 and its own measurement.

    Method: a linear gain of (−16 − measured LUFS + 0.4) dB, then a look-ahead limiter at 4× oversampling
    (ffmpeg `alimiter`, latency-compensated, auto-level off), then 44.1 kHz mono 64 kbit/s MP3.
    The encoded file is measured again; while it is more than 0.3 LU off target or its true peak
    is above −1 dBTP, the gain is corrected by the measured error (scaled by how much loudness
    the last gain step actually bought, and never more than 20 dB above the first estimate) and
    the limiter lowered by the overshoot, up to five renders. Loudness is therefore a property of
    the stored file, not a prediction. If no render lands within ±1 LU under the peak ceiling,
    LoudnessUnreachableError is raised rather than storing a file that would go out too quiet.
    For a clip under 0.4 s both the first gain and every check use the loudness of the clip
    looped to ≥ 3 s (see `measurement.measure`), and the limiter holds its peaks.
    """
    gain_db = TARGET_LUFS - measured.lufs + MP3_LOUDNESS_LOSS_LU
    max_gain_db = gain_db + MAX_EXTRA_GAIN_DB
    limit_dbtp = FIRST_LIMIT_DBTP
    renders: list[tuple[Path, Scan]] = []
    previous: tuple[float, float] | None = None  # (gain, measured LUFS) of the render before
    for attempt in range(1, MAX_RENDERS + 1):
        out = workdir / f"render-{attempt}.mp3"
        _render(source, out, gain_db=gain_db, limit_dbtp=limit_dbtp, timeout=timeout)
        try:
            result = scan(out, timeout=timeout)
        except ToolFailed as exc:
            raise ProcessingError(f"the encoded file could not be measured ({last_line(exc.stderr)})") from exc
        log.debug(
            "render %d: gain %+.2f dB, limit %.2f dBTP -> %.1f LUFS, %.1f dBTP",
            attempt, gain_db, limit_dbtp, result.lufs, result.true_peak_dbtp,
        )  # fmt: skip
        renders.append((out, result))
        peak_ok = result.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP
        if peak_ok and abs(result.lufs - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU:
            return out, result
        if not peak_ok:
            overshoot = result.true_peak_dbtp - MAX_TRUE_PEAK_DBTP
            limit_dbtp = max(LOWEST_LIMIT_DBTP, limit_dbtp - overshoot - LIMIT_STEP_DB)
        slope = _loudness_per_db(previous, (gain_db, result.lufs), limiting=result.true_peak_dbtp > limit_dbtp - 1)
        previous = (gain_db, result.lufs)
        next_gain_db = min(max_gain_db, gain_db + (TARGET_LUFS - result.lufs) / slope)
        if peak_ok and next_gain_db == gain_db:
            break  # at the gain cap already: another render would be the same file
        gain_db = next_gain_db
    return _closest(renders)


def _loudness_per_db(before: tuple[float, float] | None, now: tuple[float, float], *, limiting: bool) -> float:
    """Estimate how many LU one more dB of gain buys: less than 1 where the limiter is working."""
    # Until two renders show it, assume what the limiter did to speech in trials: 0.6 LU per dB.
    guess = 0.6 if limiting else 1.0
    if before is None:
        return guess
    gain_step, loudness_step = now[0] - before[0], now[1] - before[1]
    if abs(gain_step) < 0.1:
        return guess
    # Bounded: a noisy 0.1 LU reading must not turn into a wild jump of gain.
    return min(1.0, max(0.25, loudness_step / gain_step))


def _closest(renders: list[tuple[Path, Scan]]) -> tuple[Path, Scan]:
    """Keep the render nearest the loudness target among those within the peak ceiling, if within ±1 LU."""
    safe = [r for r in renders if r[1].true_peak_dbtp <= MAX_TRUE_PEAK_DBTP]
    if not safe:
        raise ProcessingError(f"the true peak could not be brought under {MAX_TRUE_PEAK_DBTP:.0f} dBTP")
    out, result = min(safe, key=lambda r: abs(r[1].lufs - TARGET_LUFS))
    if abs(result.lufs - TARGET_LUFS) > ACCEPTABLE_ERROR_LU:
        raise LoudnessUnreachableError(result.lufs, TARGET_LUFS)
    log.warning("loudness %.1f LUFS after %d renders, kept the closest to %.0f", result.lufs, len(renders), TARGET_LUFS)
    return out, result


def _render(source: Path, out: Path, *, gain_db: float, limit_dbtp: float, timeout: float) -> None:
    chain = ",".join([
        MONO_FLOAT_44K,
        f"volume={gain_db:.2f}dB",
        f"aresample={OVERSAMPLED_RATE}",
        # level=false: alimiter would otherwise "auto-level" the output up to the limit.
        # latency=true: remove the look-ahead delay so the length and timing stay the input's.
        f"alimiter=limit={10 ** (limit_dbtp / 20):.6f}:attack=5:release=50:level=false:latency=true",
        f"aresample={SAMPLE_RATE}",
    ])  # fmt: skip
    argv = [
        FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-v", "error", *input_args(source),
        "-map", "0:a:0", "-af", chain,
        "-c:a", "libmp3lame", "-b:a", BITRATE, "-ar", str(SAMPLE_RATE), "-ac", "1",
        # No tags and no version strings: the same input must give the same bytes, hence the same name.
        "-map_metadata", "-1", "-id3v2_version", "0", "-write_id3v1", "0", "-fflags", "+bitexact",
        "-flags:a", "+bitexact", "-f", "mp3", "-y", f"file:{out}",
    ]  # fmt: skip
    done = run(argv, timeout=timeout)
    if done.returncode != 0:
        raise ProcessingError(f"the MP3 encoder failed ({last_line(done.stderr)})")
