"""The audio library: prepare an upload and record it."""

import tempfile
from pathlib import Path

from flask import current_app
from sqlalchemy import select

import audio
from pa_controller import clock
from pa_controller.errors import NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, User
from pa_controller.services import access


def ingest(user: User, stream, filename: str, title: str) -> Audio:
    """Prepare an uploaded file (normalise, encode, store by sha256) and add it to the library."""
    access.require_role(user, *access.SCHEDULERS)
    title = (title or "").strip() or Path(filename or "").stem
    if not 1 <= len(title) <= 200:
        raise ValidationFailed("title must be 1–200 characters", fields={"title": "invalid"})
    config = current_app.config
    with tempfile.TemporaryDirectory(dir=config["INSTANCE_DIR"]) as tmp:
        # The audio package reads the extension to tell a corrupt clip from a file that is not audio.
        suffix = Path(filename or "").suffix.lower()
        upload = Path(tmp) / ("upload" + (suffix if suffix[1:].isalnum() else ""))
        with upload.open("wb") as out:
            copied = 0
            while chunk := stream.read(1 << 20):
                copied += len(chunk)
                if copied > config["AUDIO_MAX_BYTES"]:
                    limit_mb = config["AUDIO_MAX_BYTES"] // (1024 * 1024)
                    raise ValidationFailed(
                        f"the file is larger than {limit_mb} MB; shorten or compress it",
                        fields={"file": "too_large"}, code="too_large",
                    )
                out.write(chunk)
        try:
            prepared = audio.prepare(upload, config["MEDIA_DIR"], max_bytes=config["AUDIO_MAX_BYTES"],
                                     max_seconds=config["AUDIO_MAX_SECONDS"])
        except audio.AudioError as exc:
            raise ValidationFailed(str(exc), fields={"file": exc.code}, code=exc.code) from exc
    clip = _record(user, prepared, title, (filename or "upload")[:255])
    db.session.commit()
    return clip


def _record(user: User, prepared, title: str, original_name: str, *, composed: bool = False) -> Audio:
    clip = Audio(
        sha256=prepared.sha256, title=title, original_name=original_name, bytes=prepared.bytes,
        duration_ms=prepared.duration_ms, loudness_lufs=round(prepared.loudness_lufs, 1), uploaded_by=user.id,
        created_at=clock.now(), composed=composed,
    )
    db.session.add(clip)
    return clip


def compose(user: User, programme, title: str) -> Audio:
    """Join a programme's clips (repeated, with gaps and chimes) into the one clip its clusters play.

    The clip is added to the caller's transaction; an identical programme composed before is reused.
    """
    config = current_app.config
    parts = [config["MEDIA_DIR"] / f"{a.sha256}.mp3" for a in programme.items]
    try:
        prepared = audio.compose(parts, config["MEDIA_DIR"], repeat=programme.repeat, gap_s=programme.gap_s,
                                 chime=programme.chime, max_seconds=config["COMPOSE_MAX_SECONDS"])
    except audio.AudioError as exc:
        raise ValidationFailed(str(exc), fields={"items": exc.code}, code=exc.code) from exc
    existing = db.session.scalar(select(Audio).where(Audio.sha256 == prepared.sha256, Audio.composed).limit(1))
    return existing or _record(user, prepared, f"{title} (ghép)"[:200], "programme", composed=True)


CHIME_MS = round(audio.CHIME_SECONDS * 1000)


def library(*, composed: bool | None = False) -> list[Audio]:
    """Return the recordings (or with composed=True the programmes, with None both), newest first."""
    query = select(Audio).order_by(Audio.created_at.desc(), Audio.id.desc())
    return list(db.session.scalars(query if composed is None else query.where(Audio.composed.is_(composed))))


def last_upload(user: User) -> Audio | None:
    """The user's newest recording: what an officer most likely means to schedule next."""
    return db.session.scalar(select(Audio).where(Audio.uploaded_by == user.id, Audio.composed.is_(False))
                             .order_by(Audio.created_at.desc(), Audio.id.desc()).limit(1))


def get_audio(audio_id: int) -> Audio:
    clip = db.session.get(Audio, audio_id)
    if clip is None:
        raise NotFound(f"audio {audio_id} does not exist")
    return clip
