"""Read an announcement aloud with an offline voice and prepare it like an upload.

espeak-ng's Vietnamese voice is always there; a deployer may name a Piper model instead, a more natural voice,
without a change of code. Either reads the text as `reading.read_aloud` wrote it out, from its standard input.
"""

import enum
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ProcessingError, VoiceMissingError
from .ingest import DEFAULT_MAX_SECONDS, PreparedAudio, prepare
from .reading import read_aloud
from .runner import last_line, run

log = logging.getLogger(__name__)


class Speed(enum.Enum):
    """How fast the voice reads."""

    SLOW = "slow"
    NORMAL = "normal"
    FAST = "fast"


# Words a minute for espeak-ng (its own default, 175, is hurried for a loudspeaker in the street).
ESPEAK_WPM = {Speed.SLOW: 120, Speed.NORMAL: 145, Speed.FAST: 175}
# Piper stretches time instead: above 1 is slower.
PIPER_LENGTH_SCALE = {Speed.SLOW: 1.25, Speed.NORMAL: 1.0, Speed.FAST: 0.85}


@dataclass(frozen=True)
class Espeak:
    """espeak-ng with one of its voices (`espeak-ng --voices=vi` lists vi, vi-vn-x-central, vi-vn-x-south)."""

    voice: str = "vi"
    command: str = "espeak-ng"

    def argv(self, speed: Speed, out: Path) -> list[str]:
        return [self.command, "-v", self.voice, "-s", str(ESPEAK_WPM[speed]), "-w", str(out)]

    def check(self) -> None:
        _require_program(self.command)


@dataclass(frozen=True)
class Piper:
    """A Piper voice: an .onnx model with its .onnx.json beside it."""

    model: Path
    command: str = "piper"

    def argv(self, speed: Speed, out: Path) -> list[str]:
        return [self.command, "--model", str(self.model), "--output_file", str(out),
                "--length_scale", str(PIPER_LENGTH_SCALE[speed])]

    def check(self) -> None:
        _require_program(self.command)
        if not Path(self.model).is_file():
            raise VoiceMissingError(f"the Piper model {self.model} does not exist")


Voice = Espeak | Piper


def speak(text: str, voice: Voice, speed: Speed, media_dir: Path, *,
          max_seconds: float = DEFAULT_MAX_SECONDS) -> PreparedAudio:
    """Write `text` out in words, read it aloud and check, normalise and store it as `prepare` does an upload."""
    with tempfile.TemporaryDirectory(prefix="loanet-speech-") as workdir:
        wav = synthesize(read_aloud(text), voice, speed, Path(workdir) / "speech.wav")
        return prepare(wav, media_dir, max_seconds=max_seconds)


def synthesize(words: str, voice: Voice, speed: Speed, out: Path) -> Path:
    """Read `words` (already written out in words) into the WAV file `out`."""
    voice.check()
    finished = run(voice.argv(speed, out), timeout=synthesis_timeout(words), feed=words.encode("utf-8"))
    if finished.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        log.info("%s failed (%s): %s", voice.command, finished.returncode, last_line(finished.stderr))
        raise ProcessingError(f"{voice.command} could not read the text ({last_line(finished.stderr)})")
    return out


def synthesis_timeout(words: str) -> float:
    """Allow far more than a voice needs on a slow machine, so that only a hung program meets the deadline."""
    return 30.0 + 0.05 * len(words)


def _require_program(command: str) -> None:
    if shutil.which(command) is None:
        raise VoiceMissingError(f"the program {command!r} is not installed")
