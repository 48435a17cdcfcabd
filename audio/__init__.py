"""Prepare uploaded recordings for the loudspeaker network: check, normalise, store by content hash.

Pure functions over ffmpeg; nothing here knows about Flask or pa_controller.
"""

from .errors import (
    AudioError,
    CorruptAudioError,
    EmptyFileError,
    LoudnessUnreachableError,
    NotAudioError,
    ProcessingError,
    SilentAudioError,
    TooLargeError,
    TooLongError,
)
from .ingest import PreparedAudio, prepare
from .measurement import Loudness, measure, probe

__all__ = [
    "AudioError",
    "CorruptAudioError",
    "EmptyFileError",
    "Loudness",
    "LoudnessUnreachableError",
    "NotAudioError",
    "PreparedAudio",
    "ProcessingError",
    "SilentAudioError",
    "TooLargeError",
    "TooLongError",
    "measure",
    "prepare",
    "probe",
]
