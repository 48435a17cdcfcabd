"""Say what is wrong with an uploaded recording, one class and one machine code per case."""

import errno
from pathlib import Path
from typing import ClassVar

ACCEPTED_FORMATS_TEXT = "MP3, WAV, OGG (Vorbis or Opus), M4A/AAC or FLAC"


class AudioError(ValueError):
    """Refuse an input: `code` is a short machine word, the message tells the user what to do."""

    code: ClassVar[str] = "audio_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyFileError(AudioError):
    """Refuse a file of 0 bytes."""

    code = "empty"

    def __init__(self) -> None:
        super().__init__("The file is empty (0 bytes). Choose the recording again and upload it once more.")


class TooLargeError(AudioError):
    """Refuse a file over the byte limit, before anything decodes it."""

    code = "too_large"

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        self.size_bytes, self.limit_bytes = size_bytes, limit_bytes
        super().__init__(
            f"The file is {_size(size_bytes)}, more than the {_size(limit_bytes)} allowed. "
            "Shorten the recording or export it at a lower quality, then upload it again."
        )


class TooLongError(AudioError):
    """Refuse a recording that lasts longer than allowed."""

    code = "too_long"

    def __init__(
        self,
        seconds: float | None,
        limit_seconds: float,
        *,
        subject: str = "The recording",
        advice: str = "Split it into shorter announcements and upload them one by one.",
    ) -> None:
        # None: decoding stopped at the limit, so the real length is not known.
        # A composed programme passes its own subject and advice: splitting an upload would not help it.
        self.seconds, self.limit_seconds, self.subject = seconds, limit_seconds, subject
        length = "is longer" if seconds is None else f"lasts {_clock(seconds)}, longer"
        super().__init__(f"{subject} {length} than the {_clock(limit_seconds)} allowed. {advice}")


class NotAudioError(AudioError):
    """Refuse a file with no audio stream, or in a container that is not accepted."""

    code = "not_audio"

    def __init__(self, what_it_is: str) -> None:
        super().__init__(f"The file {what_it_is}. Upload a recording in {ACCEPTED_FORMATS_TEXT}.")


class LowSampleRateError(AudioError):
    """Refuse a recording sampled too slowly to carry speech: no gain makes it intelligible."""

    code = "low_sample_rate"

    def __init__(self, hz: int, least_hz: int) -> None:
        self.hz, self.least_hz = hz, least_hz
        super().__init__(
            f"The recording is sampled at {hz} Hz, too slowly to carry speech (at least {least_hz} Hz is needed). "
            "Export it again from the original at 44.1 kHz, then upload it."
        )


class TooDenseError(AudioError):
    """Refuse a recording with more samples a second (channels × rate) than decoding its length may cost: a small
    file of many channels at a high rate (a decompression bomb) would hold the server for minutes."""

    code = "too_dense"

    def __init__(self, channels: int, hz: int, most_per_second: int) -> None:
        self.channels, self.hz, self.most_per_second = channels, hz, most_per_second
        super().__init__(
            f"The recording has {channels} channels at {hz} Hz, {channels * hz} samples a second, more than the "
            f"{most_per_second} an announcement may have. Export it again as mono or stereo at 44.1 kHz, "
            "then upload it."
        )


class CorruptAudioError(AudioError):
    """Refuse a file that claims to be audio but cannot be decoded completely."""

    code = "corrupt"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The file is damaged: {detail}. "
            "Copy or export it again from the original recording and upload the new copy."
        )


class SilentAudioError(AudioError):
    """Refuse a recording below the −70 LUFS gate: no gain makes it audible."""

    code = "silent"

    def __init__(self) -> None:
        super().__init__(
            "The recording is silent (quieter than −70 LUFS), so it cannot be made audible. "
            "Check that the microphone was on and record the announcement again."
        )


class LoudnessUnreachableError(AudioError):
    """Refuse sound whose loudness lives in isolated peaks: the limiter eats any gain that would lift it."""

    code = "loudness_unreachable"

    def __init__(self, reached_lufs: float, target_lufs: float) -> None:
        self.reached_lufs, self.target_lufs = reached_lufs, target_lufs
        super().__init__(
            f"The recording cannot be made loud enough without distortion: it reaches only {reached_lufs:.1f} LUFS "
            f"of the {target_lufs:.0f} LUFS needed, because its sound is mostly short isolated peaks such as clicks. "
            "Check that the file holds the announcement itself, and record it again if not."
        )


class ProgrammeLimitError(AudioError):
    """Refuse a programme asked for outside its limits (how many parts, repetitions, how long a gap)."""

    code = "programme_limit"

    def __init__(self, detail: str) -> None:
        super().__init__(f"The programme cannot be composed: {detail}. Change it and compose it again.")


class VoiceMissingError(AudioError):
    """Report that the speech voice set up cannot be used: its program or its model is not there."""

    code = "voice_missing"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Speech synthesis is not available: {detail}. "
            "Tell the system administrator to install the voice, or to remove the setting that names it."
        )


class ProcessingError(AudioError):
    """Report that our own processing failed (tool missing, timed out, did not converge), not the input."""

    code = "processing_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Processing the audio failed: {detail}. "
            "Try again later; if it keeps failing, tell the system administrator."
        )


class StorageFullError(AudioError):
    """Report that the disk holding the media store (or the upload's scratch copy) has no room left."""

    code = "storage_full"

    def __init__(self, where: Path) -> None:
        self.where = where
        super().__init__(
            f"The server's disk is full: nothing could be written to {where}, and nothing was kept. "
            "Ask the system administrator to free space, then upload again."
        )


class StorageUnwritableError(AudioError):
    """Report that the media store (or the upload's scratch directory) refuses writes: read-only or not ours."""

    code = "storage_unwritable"

    def __init__(self, where: Path, reason: str) -> None:
        self.where = where
        super().__init__(
            f"The server cannot write to {where} ({reason}), so nothing was kept. "
            "Ask the system administrator to check that directory, then try again."
        )


# What a failed write of ours means: no room, or no right to write there; anything else is a plain fault.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(exc: OSError, where: Path) -> AudioError | None:
    """Name a failed write into `where` as full or unwritable, or return None when it is neither."""
    if exc.errno in _FULL:
        return StorageFullError(where)
    if exc.errno in _UNWRITABLE:
        return StorageUnwritableError(where, exc.strerror or "permission denied")
    return None


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.1f}".removesuffix(".0")
    if not minutes:
        return f"{rest_text} s"
    return f"{int(minutes)} min" + ("" if rest_text == "0" else f" {rest_text} s")
