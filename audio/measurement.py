"""Measure loudness (ITU-R BS.1770 via ffmpeg's ebur128), true peak and decoded length of a file."""

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .identify import INPUT_REPORTED
from .output_format import SAMPLE_RATE, SILENCE_GATE_LUFS
from .runner import FFMPEG, Finished, ToolFailed, input_args, processing_timeout, run, run_watched

log = logging.getLogger(__name__)

# BS.1770 integrates over 400 ms gating blocks: a shorter clip has no block and no loudness.
GATING_BLOCK_S = 0.4
# A clip shorter than one block is measured looped to at least this long.
LOOPED_MEASURE_S = 3.0
DEFAULT_TIMEOUT_S = processing_timeout(1800)
MONO_FLOAT_44K = f"aformat=sample_fmts=flt:sample_rates={SAMPLE_RATE}:channel_layouts=mono"
# libmp3lame's encoder delay (576 samples) plus the decoder's (529): a stream without the LAME header
# a file gets at its end decodes to these first; decoding the file skips them.
MP3_STREAM_DELAY_SAMPLES = 1105
_COUNTING = [
    # Count samples at one fixed rate so the length needs no knowledge of the source rate.
    f"aresample={SAMPLE_RATE}",
    "astats=measure_perchannel=none:measure_overall=Number_of_samples",
]
_MEASURING = ["ebur128=peak=true:framelog=verbose", *_COUNTING]
# A sample peak costs half the decode a true peak (4× oversampled) does.
_MEASURING_SAMPLE_PEAK = ["ebur128=peak=sample:framelog=verbose", *_COUNTING]

# Lines ffmpeg prints when it had to skip or guess data it could not decode.
_DAMAGE_MARKERS = ("Error while decoding stream", "corrupt input packet", "Packet corrupt")
_SUMMARY = re.compile(r"Summary:(?P<text>.*)\Z", re.S)
_INTEGRATED = re.compile(r"I:\s+(?P<lufs>-?(?:\d+(?:\.\d+)?|inf)) LUFS")
_TRUE_PEAK = re.compile(r"Peak:\s+(?P<dbtp>-?(?:\d+(?:\.\d+)?|inf)) dBFS")
_SAMPLES = re.compile(r"Number of samples: (?P<n>\d+)")


@dataclass(frozen=True)
class Loudness:
    lufs: float
    true_peak_dbtp: float


@dataclass(frozen=True)
class Scan:
    """What one decode of a file showed: loudness, true peak (or sample peak, see `decode`), length, damage."""

    lufs: float
    true_peak_dbtp: float
    samples: int
    damage_reports: int

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def duration_ms(self) -> int:
        return round(self.samples * 1000 / SAMPLE_RATE)

    @property
    def is_silent(self) -> bool:
        return self.lufs <= SILENCE_GATE_LUFS


def measure(path: Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> Loudness:
    """Return integrated loudness and true peak of a file, all channels as BS.1770 sums them.

    A clip shorter than 0.4 s has no gating block, so its loudness is that of the clip looped
    to at least 3 s; its true peak is always read from the clip itself, never the loop, whose
    seams would add peaks the clip does not have.
    """
    result = scan(path, timeout=timeout)
    return Loudness(result.lufs, result.true_peak_dbtp)


def probe(path: Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """Return the decoded length of a file in milliseconds (decoded, so encoder padding is excluded)."""
    return scan(path, timeout=timeout).duration_ms


def scan(
    path: Path, *, mono: bool = False, limit_seconds: float | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Scan:
    """Decode a file once (twice for a clip under 0.4 s) and report what it holds; raise ToolFailed if ffmpeg fails.

    With `mono` the audio is first downmixed to mono float at 44.1 kHz, exactly as it will be
    rendered; `limit_seconds` stops decoding a little after that length.
    """
    done = decode(path, mono=mono, limit_seconds=limit_seconds, timeout=timeout)
    return scan_output(done, path, mono=mono, timeout=timeout)


def decode(
    path: Path,
    *,
    mono: bool = False,
    limit_seconds: float | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    true_peak: bool = True,
    on_input: Callable[[str], None] | None = None,
) -> Finished:
    """Run the decode `scan` does and return what ffmpeg printed: its input's headers, then the measurements.

    Without `true_peak` the Scan's true_peak_dbtp is the sample peak, which never reads higher. `on_input` is shown
    the report of the input's headers before the first sample decodes; what it raises stops the decode.
    """
    argv = _scan_argv(path, mono=mono, limit_seconds=limit_seconds, loop=None, true_peak=true_peak)
    if on_input is None:
        return run(argv, timeout=timeout)
    return run_watched(argv, timeout=timeout, mark=INPUT_REPORTED, at_mark=on_input)


def scan_output(done: Finished, path: Path, *, mono: bool = False, timeout: float = DEFAULT_TIMEOUT_S) -> Scan:
    """Read what a `decode` measured (a clip under 0.4 s is measured again, looped); raise ToolFailed if it failed."""
    first = _parsed(done)
    if 0 < first.samples < GATING_BLOCK_S * SAMPLE_RATE:
        repeats = math.ceil(LOOPED_MEASURE_S * SAMPLE_RATE / first.samples)
        # Only the loudness of the loop is kept: its seams would add peaks the clip does not have.
        argv = _scan_argv(path, mono=mono, limit_seconds=None, loop=(repeats, first.samples), true_peak=False)
        looped = _parsed(run(argv, timeout=timeout))
        log.debug("%s lasts %d ms: loudness measured over %d repeats", path, first.duration_ms, repeats)
        first = replace(first, lufs=looped.lufs)
    return first


def _scan_argv(
    path: Path, *, mono: bool, limit_seconds: float | None, loop: tuple[int, int] | None, true_peak: bool = True
) -> list[str]:
    chain = [MONO_FLOAT_44K] if mono else []
    if loop:
        repeats, samples = loop
        # aloop counts samples, so the rate must be fixed before it; loop=N plays N+1 times.
        chain += [] if mono else [f"aresample={SAMPLE_RATE}"]
        chain.append(f"aloop=loop={repeats - 1}:size={samples}")
    if limit_seconds is not None:
        # Counted in samples: -t goes by timestamps, and a file whose timestamps stand still (FLAC frames numbered
        # over again) would decode to its end, hours of it, however short -t is.
        chain += [] if mono else [f"aresample={SAMPLE_RATE}"]
        chain.append(f"atrim=end_sample={round((limit_seconds + 1) * SAMPLE_RATE)}")
    chain += _MEASURING if true_peak else _MEASURING_SAMPLE_PEAK
    argv = [FFMPEG, "-nostdin", "-hide_banner", "-nostats", *input_args(path), "-map", "0:a:0", "-af", ",".join(chain)]
    if limit_seconds is not None:
        argv += ["-t", f"{limit_seconds + 1:.3f}"]
    return [*argv, "-f", "null", "-"]


def _parsed(done: Finished) -> Scan:
    if done.returncode != 0:
        raise ToolFailed(FFMPEG, done.stderr)
    return parse_scan(done.stderr)


def stream_scan_argv(chain_pipe: str) -> list[str]:
    """Return the ffmpeg command that measures an MP3 read from stdin, its filter chain read from `chain_pipe`
    (`stream_scan_chain`) once the first of the MP3 has arrived."""
    return [
        FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-protocol_whitelist", "pipe", "-f", "mp3", "-i", "pipe:0",
        "-filter_script:a", chain_pipe, "-f", "null", "-",
    ]  # fmt: skip


def stream_scan_chain(samples: int) -> str:
    """Measure the stream as its file of `samples` samples decodes: without the encoder's and decoder's delays."""
    start, end = MP3_STREAM_DELAY_SAMPLES, MP3_STREAM_DELAY_SAMPLES + samples
    return ",".join([f"atrim=start_sample={start}:end_sample={end}", *_MEASURING])


def count_damage(stderr: str) -> int:
    """Count the lines where ffmpeg says it skipped or guessed data it could not decode."""
    return sum(1 for line in stderr.splitlines() if any(marker in line for marker in _DAMAGE_MARKERS))


def parse_scan(stderr: str) -> Scan:
    """Read what ffmpeg printed after the measuring chain; raise ToolFailed if the summary is missing."""
    samples_match = _SAMPLES.search(stderr)
    samples = int(samples_match["n"]) if samples_match else 0
    damage = count_damage(stderr)
    summary = _SUMMARY.search(stderr)
    lufs = _INTEGRATED.search(summary["text"]) if summary else None
    peak = _TRUE_PEAK.search(summary["text"]) if summary else None
    if lufs is None or peak is None:
        if samples == 0:
            return Scan(SILENCE_GATE_LUFS, -math.inf, 0, damage)
        raise ToolFailed(FFMPEG, "ebur128 printed no loudness summary\n" + stderr)
    return Scan(float(lufs["lufs"]), float(peak["dbtp"]), samples, damage)
