"""Build real recordings with ffmpeg and espeak-ng, and measure results independently of `audio`."""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import audio

SPEECH_TEXT = "Thông báo của Ủy ban nhân dân phường Thới Hòa"
TOOL_TIMEOUT_S = 60

# How each accepted format is made from a WAV: file suffix and ffmpeg encoder arguments.
FORMATS = {
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
    "wav": (".wav", ["-c:a", "pcm_s16le"]),
    "ogg-vorbis": (".ogg", ["-c:a", "libvorbis", "-q:a", "4"]),
    "ogg-opus": (".opus", ["-c:a", "libopus", "-b:a", "64k"]),
    "m4a-aac": (".m4a", ["-c:a", "aac", "-b:a", "128k"]),
    "adts-aac": (".aac", ["-c:a", "aac", "-b:a", "128k", "-f", "adts"]),
    "flac": (".flac", ["-c:a", "flac"]),
}


def run_tool(*argv: str) -> str:
    """Run a tool the way the tests need it: no shell, a deadline, stderr returned."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True)
    return done.stderr


def ffmpeg(*args: str) -> None:
    run_tool("ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args)


@dataclass(frozen=True)
class Ebur128:
    lufs: float
    true_peak_dbtp: float


class Lab:
    """Make inputs in one directory and measure outputs with plain ffmpeg/ffprobe calls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loudness: dict[tuple[Path, int], Ebur128] = {}

    def path(self, name: str) -> Path:
        return self.root / name

    # -- inputs ---------------------------------------------------------------------------------

    def tone(self, name: str, *, dbfs: float, seconds: float, hz: int = 440, rate: int = 44_100) -> Path:
        """Write a mono sine whose sample peak is `dbfs`."""
        out = self.path(name)
        amplitude = 10 ** (dbfs / 20)
        ffmpeg("-f", "lavfi", "-i", f"aevalsrc={amplitude:.6f}*sin(2*PI*{hz}*t):s={rate}:d={seconds}", str(out))
        return out

    def stereo_noise(self, name: str, *, amplitude: float, seconds: float) -> Path:
        """Write independent white noise in left and right at 48 kHz."""
        out = self.path(name)
        ffmpeg(
            "-f", "lavfi", "-i", f"anoisesrc=c=white:r=48000:a={amplitude}:d={seconds}:seed=1",
            "-f", "lavfi", "-i", f"anoisesrc=c=white:r=48000:a={amplitude}:d={seconds}:seed=2",
            "-filter_complex", "[0:a][1:a]join=inputs=2:channel_layout=stereo", str(out),
        )  # fmt: skip
        return out

    def lavfi(self, source: str, out: Path) -> Path:
        """Write whatever an ffmpeg lavfi source expression produces."""
        ffmpeg("-f", "lavfi", "-i", source, str(out))
        return out

    def silence(self, name: str, *, seconds: float) -> Path:
        out = self.path(name)
        ffmpeg("-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono:d={seconds}", str(out))
        return out

    def png(self, name: str) -> Path:
        out = self.path(name)
        # Written as .png first: ffmpeg chooses the muxer from the name, and the name may lie.
        png = out.with_name(out.name + ".png")
        ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(png))
        return png.replace(out)

    def video_only(self, name: str) -> Path:
        """Write an MP4 with a video stream and no audio stream."""
        out = self.path(name)
        ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=64x64:r=10", "-c:v", "mpeg4", str(out))
        return out

    def first_half(self, source: Path, name: str) -> Path:
        """Copy the first half of a file's bytes, as an interrupted upload or copy would leave it."""
        data = source.read_bytes()
        out = self.path(name)
        out.write_bytes(data[: len(data) // 2])
        return out

    def speech(self, name: str = "speech.wav") -> Path:
        """Speak the ward's announcement opening in Vietnamese (espeak-ng, 22.05 kHz mono)."""
        out = self.path(name)
        if not out.exists():
            run_tool("espeak-ng", "-v", "vi", "-w", str(out), SPEECH_TEXT)
        return out

    def encode(self, wav: Path, fmt: str, name: str | None = None) -> Path:
        """Encode a WAV into one of FORMATS."""
        suffix, codec = FORMATS[fmt]
        out = self.path((name or f"{wav.stem}-{fmt}") + suffix)
        if not out.exists():
            ffmpeg("-i", str(wav), *codec, str(out))
        return out

    def excerpt(self, source: Path, name: str, *, start: float, seconds: float) -> Path:
        out = self.path(name)
        ffmpeg("-i", str(source), "-ss", f"{start}", "-t", f"{seconds}", str(out))
        return out

    # -- independent measurements -----------------------------------------------------------------

    def ebur128(self, path: Path, *, loops: int = 0) -> Ebur128:
        """Measure with ffmpeg's ebur128 directly; `loops` > 0 measures a decoded copy played that many extra times."""
        if (path, loops) not in self._loudness:
            self._loudness[path, loops] = self._ebur128(path, loops)
        return self._loudness[path, loops]

    def _ebur128(self, path: Path, loops: int) -> Ebur128:
        if loops:
            wav = self.path(f"{path.stem}-decoded-for-loop.wav")
            ffmpeg("-i", str(path), str(wav))
            path_args = ["-stream_loop", str(loops), "-i", str(wav)]
        else:
            path_args = ["-i", str(path)]
        stderr = run_tool(
            "ffmpeg", "-nostdin", "-hide_banner", "-nostats", *path_args,
            "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-",
        )  # fmt: skip
        summary = stderr[stderr.rindex("Summary:") :]
        lufs = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
        peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
        assert lufs and peak, summary
        return Ebur128(float(lufs[1]), float(peak[1]))

    def stream(self, path: Path) -> dict:
        """Return ffprobe's description of the first audio stream."""
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_streams", "-of", "json", str(path)],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
        return json.loads(out)["streams"][0]

    def mean_volume_db(self, path: Path, *, start: float, end: float, through: str = "anull") -> float:
        """Return the mean level (dBFS, -91 for digital silence) between two times, after the filter `through`."""
        stderr = run_tool(
            "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
            "-af", f"atrim=start={start}:end={end},{through},volumedetect", "-f", "null", "-",
        )  # fmt: skip
        found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", stderr)
        assert found, stderr
        return float(found[1])

    def decoded_ms(self, path: Path) -> float:
        """Decode to 44.1 kHz mono PCM and count the samples (excludes MP3/AAC padding the decoder drops)."""
        pcm = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "44100", "-f", "s16le", "-"],
            capture_output=True, timeout=TOOL_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
        return len(pcm) / 2 / 44.1


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """A session-wide workshop of generated inputs."""
    for tool in ("ffmpeg", "ffprobe", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; the audio tests need the real tool")
    return Lab(tmp_path_factory.mktemp("audio-inputs"))


@pytest.fixture
def media_dir(tmp_path) -> Path:
    media = tmp_path / "media"
    media.mkdir()
    return media


@pytest.fixture(scope="session")
def prepared_cache(tmp_path_factory):
    """Prepare each input once per session; tests then check one property each."""
    done: dict[Path, tuple[audio.PreparedAudio, Path]] = {}

    def prepare_once(source: Path) -> tuple[audio.PreparedAudio, Path]:
        if source not in done:
            media = tmp_path_factory.mktemp(f"media-{source.stem}")
            done[source] = (audio.prepare(source, media), media)
        return done[source]

    return prepare_once
