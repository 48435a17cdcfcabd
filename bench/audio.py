"""Time `audio.prepare` on generated recordings and log what each one became.

Run from the repository root:  .venv/bin/python bench/audio.py [--minutes 30] [--verbose]
The long case is Vietnamese speech (espeak-ng) looped to --minutes, as a 128 kbit/s stereo MP3:
the worst case the default limits (50 MB, 30 min) let through.
Beside each prepare time: a raw baseline, one plain ffmpeg conversion of the same input to what we store
(mono MP3, 44.1 kHz, 64 kbit/s) with no checks and no normalising. The ratio is prepare / raw in wall time;
"cpu" is the same ratio in the CPU time of the ffmpeg processes, which other load on the machine skews far less.
"""

import argparse
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This script is itself called audio.py: put the repository first so `import audio` finds the package.
sys.path.insert(0, str(ROOT))

import audio  # noqa: E402
from bench.results import Figure, record  # noqa: E402

log = logging.getLogger("bench.audio")

SPEECH_TEXT = "Thông báo của Ủy ban nhân dân phường Thới Hòa. Kính mời bà con đến dự họp tổ dân phố."
FORMATS = {
    "speech.mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "speech.wav": ["-c:a", "pcm_s16le"],
    "speech.ogg": ["-c:a", "libvorbis"],
    "speech.opus": ["-c:a", "libopus"],
    "speech.m4a": ["-c:a", "aac"],
    "speech.aac": ["-c:a", "aac", "-f", "adts"],
    "speech.flac": ["-c:a", "flac"],
}

GOAL_RATIO = 2.0  # issue 14: audio.prepare costs at most twice a plain ffmpeg transcode


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=600)


def build_inputs(workdir: Path, minutes: float) -> list[Path]:
    """Write the speech in every accepted format, two short clips and the long recording."""
    speech = workdir / "speech-source.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(speech), SPEECH_TEXT], check=True, timeout=60)
    inputs = []
    for name, codec in FORMATS.items():
        ffmpeg("-i", str(speech), *codec, str(workdir / name))
        inputs.append(workdir / name)
    for seconds in (0.2, 0.39):
        clip = workdir / f"clip-{seconds}s.wav"
        ffmpeg("-i", str(speech), "-ss", "0.6", "-t", str(seconds), str(clip))
        inputs.append(clip)
    if minutes > 0:
        long = workdir / f"speech-{minutes:g}min.mp3"
        ffmpeg("-stream_loop", "-1", "-i", str(speech), "-t", str(minutes * 60), "-ac", "2",
               "-c:a", "libmp3lame", "-b:a", "128k", str(long))  # fmt: skip
        inputs.append(long)
    return inputs


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_raw(source: Path) -> tuple[float, float]:
    """Wall and CPU seconds for one plain conversion of source to the stored format, in a throwaway directory."""
    with tempfile.TemporaryDirectory(prefix="bench-audio-raw-") as tmp:
        out = Path(tmp) / "out.mp3"
        started, cpu = time.perf_counter(), children_cpu()
        ffmpeg("-i", str(source), "-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k", str(out))
        return time.perf_counter() - started, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the long case; 0 skips it")
    parser.add_argument("--verbose", action="store_true", help="log every render of the normaliser")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("audio").setLevel(logging.DEBUG if options.verbose else logging.WARNING)
    logging.getLogger("audio.runner").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        workdir = Path(tmp)
        inputs = build_inputs(workdir, options.minutes)
        columns = ("input", "in LUFS", "out LUFS", "out dBTP", "ms", "bytes", "seconds", "raw s", "ratio", "cpu")
        log.info("%-22s %9s %9s %9s %9s %10s %8s %8s %7s %7s", *columns)
        ratios, cpu_ratios, total, total_raw = [], [], 0.0, 0.0
        for source in inputs:
            before = audio.measure(source)
            started, cpu = time.perf_counter(), children_cpu()
            result = audio.prepare(source, workdir / "media")
            elapsed, cpu_used = time.perf_counter() - started, children_cpu() - cpu
            raw, raw_cpu = time_raw(source)
            ratios.append(elapsed / raw)
            cpu_ratios.append(cpu_used / raw_cpu)
            total += elapsed
            total_raw += raw
            log.info(
                "%-22s %9.1f %9.1f %9.1f %9d %10d %8.2f %8.2f %6.2fx %6.2fx",
                source.name, before.lufs, result.loudness_lufs, result.true_peak_dbtp,
                result.duration_ms, result.bytes, elapsed, raw, ratios[-1], cpu_ratios[-1],
            )  # fmt: skip
        log.info("median ratio %.2fx (cpu %.2fx) over %d inputs; total prepare %.2f s, raw %.2f s (%.2fx)",
                 statistics.median(ratios), statistics.median(cpu_ratios), len(ratios), total, total_raw,
                 total / total_raw)  # fmt: skip
        ratio = statistics.median(ratios)
        record("audio", [Figure(f"prepare {len(ratios)} inputs (total; raw: ffmpeg decode and encode)", total, "s",
                                total_raw, f"median of the per-input ratios ≤ 2× (here {ratio:.2f}×)",
                                ratio <= GOAL_RATIO)],
               note=f"median ratio {ratio:.2f}×")


if __name__ == "__main__":
    main()
