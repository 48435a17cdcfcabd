"""The audio library: prepare an upload and record it."""

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask_babel import lazy_gettext as _
from sqlalchemy import select

import audio
from pa_controller import clock, settings
from pa_controller.errors import InsufficientStorage, ServiceError, Unavailable, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Audio, User, Ward
from pa_controller.services import access, audit

log = logging.getLogger(__name__)


def ingest(user: User, stream, filename: str, title: str, ward_id: str | None = None) -> Audio:
    """Prepare an uploaded file (normalise, encode, store by sha256) and add it to a ward's library, or the
    district's."""
    access.require_role(user, *access.SCHEDULERS)
    ward_id = owner_ward(user, ward_id)
    title = (title or "").strip() or Path(filename or "").stem
    if not 1 <= len(title) <= 200:
        raise ValidationFailed(_("Tiêu đề phải dài từ 1 đến 200 ký tự."), fields={"title": "invalid"})
    config = settings.current()
    try:
        with scratch() as tmp:
            # The audio package reads the extension to tell a corrupt clip from a file that is not audio.
            suffix = Path(filename or "").suffix.lower()
            upload = tmp / ("upload" + (suffix if suffix[1:].isalnum() else ""))
            _copy(stream, upload, config.audio_max_bytes)
            prepared = audio.prepare(upload, config.media_dir, max_bytes=config.audio_max_bytes,
                                     max_seconds=config.audio_max_seconds)
    except audio.AudioError as exc:
        raise refused(exc, "file") from exc
    clip = record(user, prepared, title, (filename or "upload")[:255], ward_id=ward_id)
    db.session.flush()
    audit.record("audio.upload", f"audio:{clip.id}", ward_id=ward_id, title=clip.title, sha256=clip.sha256)
    db.session.commit()
    return clip


@contextmanager
def scratch(purpose: str = "upload") -> Iterator[Path]:
    """A temporary directory in the instance directory (loanet-<purpose>-…, which services/leftovers.py sweeps
    should a killed request leave it), removed after; a disk there that is full or refuses writes raises the audio
    package's StorageFullError or StorageUnwritableError, for `refused` to explain."""
    where = settings.current().instance_dir
    try:
        with tempfile.TemporaryDirectory(dir=where, prefix=f"loanet-{purpose}-") as tmp:
            yield Path(tmp)
    except OSError as exc:
        unstorable = audio.storage_error(exc, where)
        if unstorable is None:
            raise
        log.error("could not write in %s: %s", where, exc)
        raise unstorable from exc


def _copy(stream, upload: Path, max_bytes: int) -> None:
    """Copy the uploaded stream to `upload`, refusing it as soon as it passes `max_bytes`."""
    with upload.open("wb") as out:
        copied = 0
        while chunk := stream.read(1 << 20):
            copied += len(chunk)
            if copied > max_bytes:
                raise audio.TooLargeError(copied, max_bytes)
            out.write(chunk)


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB"


def _length(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return _("%(m)s phút %(s)s giây", m=minutes, s=rest) if minutes else _("%(s)s giây", s=rest)


def _explain(exc: audio.AudioError):
    """Say in the reader's language what is wrong with a file or programme, and what to do (audio/errors.py)."""
    formats = audio.ACCEPTED_FORMATS_TEXT
    match exc:
        case audio.TooLargeError():
            return _("Tệp nặng %(size)s, quá mức %(limit)s cho phép. Hãy cắt ngắn bản ghi hoặc xuất với chất lượng "
                     "thấp hơn, rồi tải lên lại.", size=_size(exc.size_bytes), limit=_size(exc.limit_bytes))
        case audio.TooLongError() if exc.subject == "The recording":
            length = _("dài hơn") if exc.seconds is None else _("dài %(n)s, hơn", n=_length(exc.seconds))
            return _("Bản ghi %(length)s mức %(limit)s cho phép. Hãy chia thành các bản tin ngắn hơn và tải lên từng "
                     "bản.", length=length, limit=_length(exc.limit_seconds))
        case audio.TooLongError():
            return _("Chương trình sẽ dài hơn mức %(limit)s ghép được. Hãy bớt số bản ghi, số lần lặp hoặc khoảng "
                     "nghỉ.", limit=_length(exc.limit_seconds))
        case audio.LowSampleRateError():
            return _("Bản ghi chỉ được lấy mẫu %(hz)s Hz, quá thấp để nghe rõ lời nói (cần ít nhất %(least)s Hz). "
                     "Hãy xuất lại từ bản gốc ở 44,1 kHz rồi tải lên.", hz=exc.hz, least=exc.least_hz)
        case audio.TooDenseError():
            return _("Bản ghi có %(channels)s kênh ở %(hz)s Hz, nhiều dữ liệu hơn mức một bản tin được phép và quá "
                     "nặng để xử lý. Hãy xuất lại thành mono hoặc stereo ở 44,1 kHz rồi tải lên.",
                     channels=exc.channels, hz=exc.hz)
        case audio.LoudnessUnreachableError():
            return _("Không thể làm bản ghi đủ to mà không méo tiếng: nó chỉ đạt %(reached)s LUFS, cần %(target)s "
                     "LUFS, vì âm thanh chủ yếu là những tiếng lách cách ngắn. Hãy kiểm tra tệp có đúng là bản tin "
                     "không, nếu không thì thu âm lại.", reached=round(exc.reached_lufs, 1),
                     target=round(exc.target_lufs))
    explained = {
        "empty": _("Tệp rỗng (0 byte). Hãy chọn lại bản ghi và tải lên lần nữa."),
        "not_audio": _("Tệp này không phải bản ghi âm. Hãy tải lên bản ghi dạng %(formats)s.", formats=formats),
        "corrupt": _("Tệp bị hỏng, không đọc được hết. Hãy sao chép hoặc xuất lại từ bản ghi gốc rồi tải lên bản "
                     "mới."),
        "silent": _("Bản ghi không có tiếng (nhỏ hơn −70 LUFS) nên không thể làm cho nghe được. Hãy kiểm tra micrô "
                    "đã bật chưa và thu âm lại."),
        "storage_full": _("Máy chủ hết chỗ lưu nên chưa lưu được gì. Hãy báo quản trị hệ thống giải phóng dung "
                          "lượng đĩa, rồi thử lại."),
        "storage_unwritable": _("Máy chủ không ghi được vào thư mục lưu âm thanh nên chưa lưu được gì. Hãy báo "
                                "quản trị hệ thống kiểm tra thư mục đó, rồi thử lại."),
        "programme_limit": _("Không ghép được chương trình với các lựa chọn này. Hãy xem lại số bản ghi, số lần lặp "
                             "và khoảng nghỉ."),
    }
    return explained.get(exc.code, _("Xử lý âm thanh bị lỗi. Hãy thử lại sau; nếu vẫn lỗi, hãy báo quản trị hệ "
                                     "thống."))


def refused(exc: audio.AudioError, field: str) -> ServiceError:
    """Refuse what the audio package refused, saying why in the reader's language, against `field`: a file or
    programme at fault is a 422; a disk full (507) or unwritable (503) is the server's, and says so."""
    log.info("audio refused (%s): %s", exc.code, exc.message)  # the English detail, for whoever reads the logs
    error = {audio.StorageFullError: InsufficientStorage, audio.StorageUnwritableError: Unavailable}.get(
        type(exc), ValidationFailed)
    return error(_explain(exc), fields={field: exc.code}, code=exc.code)


def owner_ward(user: User, ward_id: str | None) -> str | None:
    """Return the ward an upload belongs to: the one asked for, if the user works for it; else the user's one
    ward; else the district (None), for a user of the whole district."""
    scope = access.ward_scope(user)
    if ward_id:
        if db.session.get(Ward, ward_id) is None:
            raise ValidationFailed(_("Không có phường mang mã %(id)s.", id=ward_id), fields={"ward": "unknown"})
        access.require_wards(user, {ward_id})
        return ward_id
    if scope is None:
        return None
    if len(scope) == 1:
        return next(iter(scope))
    raise ValidationFailed(_("Bạn làm việc cho nhiều phường: hãy chọn phường của bản ghi này."),
                           fields={"ward": "missing"})


def record(user: User, prepared, title: str, original_name: str, *, ward_id: str | None,
           composed: bool = False, speech_text: str | None = None) -> Audio:
    """Add a prepared clip to the library, in the caller's transaction."""
    clip = Audio(
        sha256=prepared.sha256, title=title, original_name=original_name, bytes=prepared.bytes,
        duration_ms=prepared.duration_ms, loudness_lufs=round(prepared.loudness_lufs, 1), uploaded_by=user.id,
        created_at=clock.now(), composed=composed, ward_id=ward_id, speech_text=speech_text,
    )
    db.session.add(clip)
    return clip


def compose(user: User, programme, title: str) -> Audio:
    """Join a programme's clips (repeated, with gaps and chimes) into the one clip its clusters play.

    The clip is added to the caller's transaction; an identical programme composed before is reused.
    """
    config = settings.current()
    parts = [config.media_dir / f"{a.sha256}.mp3" for a in programme.items]
    for clip, path in dict(zip(programme.items, parts, strict=True)).items():
        if not audio.holds(path, clip.sha256):
            log.error("stored clip %s (audio %s) is missing or no longer hashes to its name", path, clip.id)
            raise ValidationFailed(_("Bản ghi “%(title)s” lưu trên máy chủ đã hỏng hoặc bị mất. Hãy tải bản ghi đó "
                                     "lên lại, rồi ghép chương trình lần nữa.", title=clip.title),
                                   fields={"items": "corrupt"}, code="corrupt")
    try:
        prepared = audio.compose(parts, config.media_dir, repeat=programme.repeat, gap_s=programme.gap_s,
                                 chime=programme.chime, max_seconds=config.compose_max_seconds)
    except audio.AudioError as exc:
        raise refused(exc, "items") from exc
    owners = sorted({clip.ward_id for clip in programme.items} - {None})
    ward_id = owners[0] if owners else None  # the ward its recordings came from: no one else sees it listed
    existing = db.session.scalar(select(Audio).where(Audio.sha256 == prepared.sha256, Audio.composed,
                                                     _same_owner(ward_id)).limit(1))
    return existing or record(user, prepared, f"{title} (ghép)"[:200], "programme", ward_id=ward_id,
                              composed=True)


def _same_owner(ward_id: str | None):
    return Audio.ward_id.is_(None) if ward_id is None else Audio.ward_id == ward_id


CHIME_MS = round(audio.CHIME_SECONDS * 1000)


def _visible(user: User):
    """The clips a user may see and use: the district's, and those of the user's wards."""
    scope = access.ward_scope(user)
    return True if scope is None else Audio.ward_id.is_(None) | Audio.ward_id.in_(scope)


def library(user: User, *, composed: bool | None = False) -> list[Audio]:
    """Return the recordings the user may use (or with composed=True the programmes, with None both), newest
    first."""
    query = select(Audio).where(_visible(user)).order_by(Audio.created_at.desc(), Audio.id.desc())
    return list(db.session.scalars(query if composed is None else query.where(Audio.composed.is_(composed))))


def usable_by(user: User) -> Callable[[Audio], bool]:
    """Tell of a clip whether the user may use it: the district's, or one of their wards'."""
    scope = access.ward_scope(user)
    return lambda clip: scope is None or clip.ward_id is None or clip.ward_id in scope


def last_upload(user: User) -> Audio | None:
    """The user's newest recording: what an officer most likely means to schedule next."""
    return db.session.scalar(select(Audio).where(Audio.uploaded_by == user.id, Audio.composed.is_(False),
                                                 _visible(user))
                             .order_by(Audio.created_at.desc(), Audio.id.desc()).limit(1))


