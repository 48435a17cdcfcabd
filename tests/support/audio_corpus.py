"""Broken, lying and extreme audio files, made on the spot with ffmpeg and by hand: no binary files in the repo."""

import random
import struct
import subprocess
from pathlib import Path

TOOL_TIMEOUT_S = 120
SECONDS = 3.0  # every real recording here lasts this long
THREE_HOURS = 3 * 3600


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args], check=True,
                   capture_output=True, timeout=TOOL_TIMEOUT_S)


def sine(rate: int = 44_100, seconds: float = SECONDS) -> list[str]:
    """The lavfi input of a 440 Hz tone (a 1 kHz one above 48 kHz, where 440 Hz is a few samples a cycle anyway)."""
    return ["-f", "lavfi", "-i", f"sine=frequency={440 if rate <= 48_000 else 1000}:duration={seconds}"
                                 f":sample_rate={rate}"]


def silence(rate: int, layout: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl={layout}:d={seconds}"]


def chunk(tag: bytes, data: bytes, claimed: int | None = None) -> bytes:
    """A RIFF chunk; `claimed` is the size its header states, when that is a lie."""
    return tag + struct.pack("<I", len(data) if claimed is None else claimed) + data + b"\0" * (len(data) % 2)


def wav(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def fmt(rate: int = 44_100, channels: int = 1) -> bytes:
    """The fmt chunk of 16-bit PCM."""
    align = 2 * channels
    return chunk(b"fmt ", struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, 16))


class Corpus:
    """Make each file once, in one directory, named as it will be uploaded."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(data)
        return path

    def encoded(self, name: str, *args: str) -> Path:
        """Run ffmpeg into `name` (its muxer chosen by `-f` in args, else by the name) unless it is made already."""
        path = self.path(name)
        if not path.exists():
            ffmpeg(*args, str(path))
        return path

    def pcm(self) -> bytes:
        """3 s of a 440 Hz tone at 44.1 kHz, mono, 16-bit: the samples of the hand-made WAVs."""
        path = self.encoded("tone.s16le", *sine(), "-f", "s16le")
        return path.read_bytes()

    def tone_wav(self) -> Path:
        return self.encoded("tone.wav", *sine())

    def tone_mp3(self) -> Path:
        return self.encoded("tone.mp3", *sine(), "-b:a", "128k")

    def png(self) -> Path:
        return self.encoded("picture.png", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1")

    def silent_flac(self) -> Path:
        """Three hours of digital silence at 8 kHz in 26 KB of FLAC (its longest frames): its header says how long."""
        return self.encoded("silent-3h.flac", *silence(8000, "mono", THREE_HOURS), "-c:a", "flac",
                            "-frame_size", "65535")

    def silent_opus(self) -> Path:
        """Three hours of silence in 2.8 MB of Opus: one minute encoded, then copied 180 times over (encoding three
        hours would take minutes); the Ogg muxer numbers the copies on, so the last page says three hours."""
        minute = self.encoded("silent-minute.opus", *silence(48_000, "mono", 60), "-c:a", "libopus", "-b:a", "6k",
                              "-frame_duration", "120")
        return self.encoded("silent-3h.opus", "-stream_loop", str(THREE_HOURS // 60 - 1), "-i", str(minute),
                            "-c", "copy")

    def looped_flac(self) -> Path:
        """A minute of tone copied 180 times into one FLAC: its header still says 60 s, and the copies' frames are
        numbered over again, so its timestamps stand still while three hours of sound go by."""
        minute = self.encoded("tone-minute.flac", *sine(8000, 60), "-c:a", "flac")
        return self.encoded("tone-3h-says-60s.flac", "-stream_loop", str(THREE_HOURS // 60 - 1), "-i", str(minute),
                            "-c", "copy")

    def bomb(self) -> Path:
        """A decompression bomb: 30 minutes of 8-channel 384 kHz silence in a few hundred KB of FLAC that declares no
        length (STREAMINFO's total samples zeroed), so only decoding all of it could tell how long it is."""
        second = self.encoded("bomb-second.flac", *silence(384_000, "7.1", 1), "-c:a", "flac", "-frame_size", "65535")
        looped = self.encoded("bomb-looped.flac", "-stream_loop", "1799", "-i", str(second), "-c", "copy")
        data = bytearray(looped.read_bytes())
        # fLaC, a block header, then STREAMINFO: total samples are the low 4 bits of byte 21 and bytes 22-25.
        assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO must come first"
        data[21] &= 0xF0
        data[22:26] = bytes(4)
        return self.write("bomb.flac", bytes(data))

    def random_bytes(self, size: int, seed: int) -> bytes:
        return random.Random(seed).randbytes(size)
