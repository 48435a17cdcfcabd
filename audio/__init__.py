"""Prepare uploaded recordings for the loudspeaker network: check, normalise, store by content hash.

`prepare` turns one upload into a stored broadcast MP3; `compose` joins stored clips into a
programme (chime, repetitions, gaps) stored and described the same way.

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
    NotAudioError,
    ProcessingError,
    ProgrammeLimitError,
    SilentAudioError,
    TooLargeError,
    TooLongError,
)
from .ingest import PreparedAudio, prepare
from .measurement import Loudness, measure, probe

__all__ = [
    "ACCEPTED_FORMATS_TEXT",
    "CHIME_SECONDS",
    "AudioError",
    "CorruptAudioError",
    "EmptyFileError",
    "Loudness",
    "LoudnessUnreachableError",
    "NotAudioError",
    "PreparedAudio",
    "ProcessingError",
    "ProgrammeLimitError",
    "SilentAudioError",
    "TooLargeError",
    "TooLongError",
    "compose",
    "measure",
    "prepare",
    "probe",
]
