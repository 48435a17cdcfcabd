"""Render a source to broadcast MP3 at −16 LUFS with true peak ≤ −1 dBTP, checked on the encoded file."""

import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import LoudnessUnreachableError, ProcessingError
from .measurement import GATING_BLOCK_S, MONO_FLOAT_44K, Scan, parse_scan, scan, stream_scan_argv, stream_scan_chain
from .output_format import BITRATE, LOUDNESS_TOLERANCE_LU, MAX_TRUE_PEAK_DBTP, SAMPLE_RATE, TARGET_LUFS
from .runner import FFMPEG, Started, ToolFailed, finish, input_args, last_line, start_piped

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
# What the limiter takes from speech: (dB its input's peak goes over the limit, LU of loudness lost),
# measured on Vietnamese espeak-ng speech, 3 min of it as MP3 and a 0.39 s excerpt (all three within 0.1 LU).
# The peak may be the source's sample peak (what `prepare` measures): on speech it reads as its true peak.
# Predicting it lets the first render land for speech; other sound is caught by the check on the MP3.
SPEECH_LIMITER_LOSS = ((0.0, 0.0), (2.0, 0.3), (4.0, 0.6), (6.0, 1.4), (8.0, 2.6), (10.0, 3.8))
LOSS_PER_DB_BEYOND = 0.6


@dataclass(frozen=True)
class Render:
    """One render's two ffmpegs, started before the source is measured (see `runner.Started`): the encoder, waiting
    for its filter chain (gain and limit), and the checker that measures the MP3 as the encoder writes it, waiting
    for the length to measure. Hand the first to `normalise` and `stop` it whatever happens: after, that is a no-op."""

    out: Path
    encoder: Started
    checker: Started

    def stop(self) -> None:
        self.encoder.stop()
        self.checker.stop()


def first_render(source: Path, workdir: Path) -> Render:
    return _start_render(source, _render_path(workdir, 1))


def normalise(
    source: Path, workdir: Path, measured: Scan, *, timeout: float, first: Render | None = None
) -> tuple[Path, Scan]:
    """Render `source` into `workdir` and return the MP3 and its own measurement.

    Method: a linear gain of (−16 − measured LUFS + 0.4) dB plus what the limiter is predicted to take
    from speech at that gain (SPEECH_LIMITER_LOSS), then a look-ahead limiter at 4× oversampling
    (ffmpeg `alimiter`, latency-compensated, auto-level off), then 44.1 kHz mono 64 kbit/s MP3.
    The encoder's output is measured while it is written (a second ffmpeg reads it from a pipe), so
    the check costs no second decode of the source. Only if the MP3 is more than 0.3 LU off target
    or its true peak is above −1 dBTP is it rendered again (logged as a warning): the gain corrected
    by the measured error (scaled by how much loudness a dB of gain buys, and never more than 20 dB
    above the plain gain) and the limiter lowered by the overshoot, up to five renders. Loudness is
    therefore a property of the stored file, not a prediction. If no render lands within ±1 LU under
    the peak ceiling, LoudnessUnreachableError is raised rather than storing a file that would go
    out too quiet. For a clip under 0.4 s both the first gain and every check use the loudness of
    the clip looped to ≥ 3 s (see `measurement.measure`), and the limiter holds its peaks.
    """
    plain_gain_db = TARGET_LUFS - measured.lufs + MP3_LOUDNESS_LOSS_LU
    max_gain_db = plain_gain_db + MAX_EXTRA_GAIN_DB
    limit_dbtp = FIRST_LIMIT_DBTP
    gain_db = _first_gain(plain_gain_db, measured.true_peak_dbtp, limit_dbtp, max_gain_db)
    renders: list[tuple[Path, Scan]] = []
    previous: tuple[float, float] | None = None  # (gain, measured LUFS) of the render before
    for attempt in range(1, MAX_RENDERS + 1):
        render = first if attempt == 1 and first is not None else _start_render(source, _render_path(workdir, attempt))
        out = render.out
        result = _render_and_check(render, measured.samples, gain_db=gain_db, limit_dbtp=limit_dbtp, timeout=timeout)
        log.debug(
            "render %d: gain %+.2f dB, limit %.2f dBTP -> %.1f LUFS, %.1f dBTP",
            attempt, gain_db, limit_dbtp, result.lufs, result.true_peak_dbtp,
        )  # fmt: skip
        renders.append((out, result))
        peak_ok = result.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP
        # ebur128 reads in 0.1 LU steps: round off the float noise that would make −16.3 "0.30000000000000071 off".
        if peak_ok and round(abs(result.lufs - TARGET_LUFS), 6) <= LOUDNESS_TOLERANCE_LU:
            return out, result
        log.warning(
            "render %d of %s missed (%.1f LUFS, %.1f dBTP at gain %+.2f dB, limit %.2f dBTP): rendering again",
            attempt, source.name, result.lufs, result.true_peak_dbtp, gain_db, limit_dbtp,
        )  # fmt: skip
        excess_db = measured.true_peak_dbtp + gain_db - limit_dbtp
        if not peak_ok:
            overshoot = result.true_peak_dbtp - MAX_TRUE_PEAK_DBTP
            limit_dbtp = max(LOWEST_LIMIT_DBTP, limit_dbtp - overshoot - LIMIT_STEP_DB)
        slope = _loudness_per_db(previous, (gain_db, result.lufs), excess_db=excess_db)
        previous = (gain_db, result.lufs)
        next_gain_db = min(max_gain_db, gain_db + (TARGET_LUFS - result.lufs) / slope)
        if peak_ok and next_gain_db == gain_db:
            break  # at the gain cap already: another render would be the same file
        gain_db = next_gain_db
    return _closest(renders)


def _first_gain(plain_gain_db: float, peak_db: float, limit_dbtp: float, max_gain_db: float) -> float:
    """Add to the plain gain what the limiter will take back at the resulting gain, as it does for speech."""
    gain_db = plain_gain_db
    # Converges: each dB of gain costs at most 0.6 LU, so each round moves less than the one before.
    for _ in range(30):
        gain_db = min(max_gain_db, plain_gain_db + _limiter_loss(peak_db + gain_db - limit_dbtp))
    return gain_db


def _limiter_loss(excess_db: float) -> float:
    """Interpolate the loudness the limiter takes from speech whose true peak is `excess_db` over the limit."""
    if excess_db <= 0:
        return 0.0
    for (x0, y0), (x1, y1) in zip(SPEECH_LIMITER_LOSS, SPEECH_LIMITER_LOSS[1:], strict=False):
        if excess_db <= x1:
            return y0 + (y1 - y0) * (excess_db - x0) / (x1 - x0)
    last_x, last_y = SPEECH_LIMITER_LOSS[-1]
    return last_y + LOSS_PER_DB_BEYOND * (excess_db - last_x)


def _loudness_per_db(before: tuple[float, float] | None, now: tuple[float, float], *, excess_db: float) -> float:
    """Estimate how many LU one more dB of gain buys: less than 1 where the limiter is working."""
    # Until two renders show it, assume what the limiter does to speech that far over the limit.
    guess = max(0.25, 1.0 - (_limiter_loss(excess_db + 0.5) - _limiter_loss(excess_db - 0.5)))
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


def _render_path(workdir: Path, attempt: int) -> Path:
    return workdir / f"render-{attempt}.mp3"


def _start_render(source: Path, out: Path) -> Render:
    encoder, checker = start_piped(lambda chain_pipe: _render_argv(source, out, chain_pipe), stream_scan_argv)
    return Render(out, encoder, checker)


def _render_and_check(render: Render, samples: int, *, gain_db: float, limit_dbtp: float, timeout: float) -> Scan:
    """Give the render its gain and limit, and the checker the length: the MP3 is measured as it is written.
    A clip under 0.4 s is measured after, looped (its checker is stopped: the encoder goes on without it)."""
    looped = samples < GATING_BLOCK_S * SAMPLE_RATE
    if looped:
        render.checker.stop()
    else:
        render.checker.give(stream_scan_chain(samples))
    render.encoder.give(_chain(gain_db, limit_dbtp))
    tools = (render.encoder,) if looped else (render.encoder, render.checker)
    encoded, *checked = finish(*tools, timeout=timeout)
    if encoded.returncode != 0:
        raise ProcessingError(f"the MP3 encoder failed ({last_line(encoded.stderr)})")
    try:
        if looped:
            return scan(render.out, timeout=timeout)
        if checked[0].returncode != 0:
            raise ToolFailed(FFMPEG, checked[0].stderr)
        return parse_scan(checked[0].stderr)
    except ToolFailed as exc:
        raise ProcessingError(f"the encoded file could not be measured ({last_line(exc.stderr)})") from exc


# No tags and no version strings: the same input must give the same bytes, hence the same name.
_NO_TAGS = "id3v2_version=0:write_id3v1=0"


def _chain(gain_db: float, limit_dbtp: float) -> str:
    return ",".join([
        MONO_FLOAT_44K,
        f"volume={gain_db:.2f}dB",
        f"aresample={OVERSAMPLED_RATE}",
        # level=false: alimiter would otherwise "auto-level" the output up to the limit.
        # latency=true: remove the look-ahead delay so the length and timing stay the input's.
        f"alimiter=limit={10 ** (limit_dbtp / 20):.6f}:attack=5:release=50:level=false:latency=true",
        f"aresample={SAMPLE_RATE}",
    ])  # fmt: skip


def _render_argv(source: Path, out: Path, chain_pipe: str) -> list[str]:
    """Encode `source` into `out` and, as it is written, to stdout for the checker (the tee muxer writes the file
    seekable, so it gets its LAME header; onfail=ignore: a checker that dies, or none, is not an encoder failure).
    The filter chain is read from `chain_pipe` before the first sample is decoded (ffmpeg 5.1–7: -filter_script)."""
    targets = f"[f=mp3:{_NO_TAGS}]file:{out}|[f=mp3:onfail=ignore:{_NO_TAGS}]pipe:1"
    return [
        FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-v", "error", *input_args(source),
        "-map", "0:a:0", "-filter_script:a", chain_pipe,
        "-c:a", "libmp3lame", "-b:a", BITRATE, "-ar", str(SAMPLE_RATE), "-ac", "1",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "tee", "-y", targets,
    ]  # fmt: skip
