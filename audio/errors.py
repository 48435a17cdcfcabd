"""Say what is wrong with an uploaded recording, one class and one machine code per case."""

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


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.1f}".removesuffix(".0")
    if not minutes:
        return f"{rest_text} s"
    return f"{int(minutes)} min" + ("" if rest_text == "0" else f" {rest_text} s")
