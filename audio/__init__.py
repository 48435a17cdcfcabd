"""Prepare uploaded recordings for the loudspeaker network: check, normalise, store by content hash.

`prepare` turns one upload into a stored broadcast MP3; `compose` joins stored clips into a
programme (chime, repetitions, gaps) stored and described the same way; `speak` reads a text aloud
(`read_aloud` writes its numbers, dates and times out in words first) and prepares it the same way.

Pure functions over ffmpeg; nothing here knows about Flask or pa_controller.
"""

from .chime import CHIME_SECONDS
from .composition import compose
from .errors import (
    ACCEPTED_FORMATS_TEXT,
    AudioError,
    CorruptAudioError,
    EmptyFileError,
    LoudnessUnreachableError,
    LowSampleRateError,
    NotAudioError,
    ProcessingError,
    ProgrammeLimitError,
    SilentAudioError,
    StorageFullError,
    StorageUnwritableError,
    TooDenseError,
    TooLargeError,
    TooLongError,
    VoiceMissingError,
    storage_error,
)
from .ingest import PreparedAudio, prepare
from .measurement import Loudness, measure, probe
from .reading import read_aloud
from .speech import Espeak, Piper, Speed, Voice, speak
from .store import holds

__all__ = [
    "ACCEPTED_FORMATS_TEXT",
    "CHIME_SECONDS",
    "AudioError",
    "CorruptAudioError",
    "Espeak",
    "EmptyFileError",
    "Loudness",
    "LoudnessUnreachableError",
    "LowSampleRateError",
    "NotAudioError",
    "Piper",
    "PreparedAudio",
    "ProcessingError",
    "ProgrammeLimitError",
    "SilentAudioError",
    "Speed",
    "StorageFullError",
    "StorageUnwritableError",
    "TooDenseError",
    "TooLargeError",
    "TooLongError",
    "Voice",
    "VoiceMissingError",
    "compose",
    "holds",
    "measure",
    "prepare",
    "probe",
    "read_aloud",
    "speak",
    "storage_error",
]
