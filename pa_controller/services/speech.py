"""Compose by text: read an officer's announcement aloud with the deployment's offline voice, and keep it."""

import logging
from pathlib import Path

from flask_babel import lazy_gettext as _

import audio
from audio import Speed
from pa_controller import settings
from pa_controller.errors import Unavailable, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, User
from pa_controller.services import access, audit, media

log = logging.getLogger(__name__)

MAX_TEXT = 3000  # about four minutes read aloud
TITLE_FROM_TEXT = 60  # an untitled clip is named after the start of its text
TEXT_LENGTH = _("Hãy viết nội dung bản tin, từ 1 đến %(n)s ký tự.", n=MAX_TEXT)
NOTHING_TO_READ = _("Văn bản không có chữ hay số nào để đọc. Hãy viết nội dung bản tin.")
SPEED_WORDS = _("Tốc độ đọc phải là một trong: %(values)s.", values=", ".join(s.value for s in Speed))

__all__ = ["MAX_TEXT", "Speed", "create", "preview", "reading", "speed_of", "voice"]


def voice(config: settings.Settings) -> audio.Voice:
    """The voice the deployment chose: its Piper model when it names one, else espeak-ng's Vietnamese."""
    if config.tts_piper_model:
        return audio.Piper(config.tts_piper_model, command=config.tts_piper_command)
    return audio.Espeak(config.tts_espeak_voice)


def speed_of(value: str | None) -> Speed:
    """Read a speed as a form sends it; none is normal."""
    try:
        return Speed(value or Speed.NORMAL.value)
    except ValueError:
        raise ValidationFailed(SPEED_WORDS, fields={"speed": "unknown"}) from None


def reading(text: str) -> str:
    """How the voice will read `text`: its numbers, dates, times and units written out in words."""
    return audio.read_aloud(_checked(text))


def preview(user: User, text: str, speed: Speed) -> bytes:
    """Read `text` aloud and prepare it exactly as it would be kept and played, keeping nothing: the MP3's bytes."""
    access.require_role(user, *access.SCHEDULERS)
    text = _checked(text)
    try:
        with media.scratch("speech-preview") as scratch:
            return _speak(text, speed, scratch).path.read_bytes()
    except audio.AudioError as exc:  # the scratch directory's disk, full or read-only
        raise media.refused(exc, "text") from exc


def create(user: User, text: str, title: str, speed: Speed, ward_id: str | None = None) -> Audio:
    """Read `text` aloud, prepare it as an upload is prepared, and add it with its text to a ward's library (or the
    district's)."""
    access.require_role(user, *access.SCHEDULERS)
    ward_id = media.owner_ward(user, ward_id)
    text = _checked(text)
    title = (title or "").strip() or _title_from(text)
    if not 1 <= len(title) <= 200:
        raise ValidationFailed(_("Tiêu đề phải dài từ 1 đến 200 ký tự."), fields={"title": "invalid"})
    prepared = _speak(text, speed, settings.current().media_dir)
    clip = media.record(user, prepared, title, "speech", ward_id=ward_id, speech_text=text)
    db.session.flush()
    audit.record("audio.speech", f"audio:{clip.id}", ward_id=ward_id, title=clip.title, sha256=clip.sha256,
                 speed=speed.value, characters=len(text))
    db.session.commit()
    return clip


def _checked(text: str | None) -> str:
    text = (text or "").strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise ValidationFailed(TEXT_LENGTH, fields={"text": "length"})
    if not any(ch.isalnum() for ch in text):
        raise ValidationFailed(NOTHING_TO_READ, fields={"text": "nothing_to_read"})
    return text


def _title_from(text: str) -> str:
    first_line = " ".join(text.split())
    if len(first_line) <= TITLE_FROM_TEXT:
        return first_line
    return first_line[:TITLE_FROM_TEXT].rsplit(" ", 1)[0] + "…"


def _speak(text: str, speed: Speed, media_dir: Path) -> audio.PreparedAudio:
    config = settings.current()
    try:
        return audio.speak(text, voice(config), speed, media_dir, max_seconds=config.audio_max_seconds)
    except audio.VoiceMissingError as exc:
        log.error("speech synthesis unavailable: %s", exc.message)
        raise Unavailable(_("Máy chủ chưa cài giọng đọc nên chưa đọc được văn bản. Hãy báo quản trị hệ thống."),
                          code=exc.code) from exc
    except audio.AudioError as exc:
        raise media.refused(exc, "text") from exc
