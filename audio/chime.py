"""The attention chime: a two-tone "ding-dong" that opens and closes a composed programme.

It is made from two ffmpeg sine sources and then goes through `prepare` like any upload, so it
is stored by content hash and sits at the same −16 LUFS as the announcements around it: the
normaliser measures the chime rather than trusting a hand-set amplitude. Rendering and preparing
it takes about half a second, so it is done once per media directory and process, then reused.
"""

import logging
import tempfile
import threading
from pathlib import Path

from .errors import AudioError, ProcessingError, StorageFullError, StorageUnwritableError
from .ingest import PreparedAudio, prepare
from .output_format import SAMPLE_RATE
from .runner import FFMPEG, PROBE_TIMEOUT_S, last_line, run

log = logging.getLogger(__name__)

# A falling major third (E5 then C5), the interval of a doorbell and of most public-address chimes.
DING_HZ, DING_S = 659.25, 0.5
DONG_HZ, DONG_S = 523.25, 0.7
# A 8 ms attack avoids a click; the cubic decay rings like a struck bar yet keeps the peak-to-loudness
# ratio near 12 dB, so reaching −16 LUFS needs no limiting (an exponential decay needed ~15 dB).
ATTACK_S = 0.008
CHIME_SECONDS = DING_S + DONG_S

_cache: dict[Path, PreparedAudio] = {}
_lock = threading.Lock()


def chime(media_dir: Path) -> PreparedAudio:
    """Return the chime stored in media_dir, rendering and preparing it the first time it is needed there."""
    media_dir = Path(media_dir).resolve()
    with _lock:
        cached = _cache.get(media_dir)
        if cached is not None and cached.path.is_file():
            return cached
        with tempfile.TemporaryDirectory(prefix="loanet-chime-") as workdir:
            source = Path(workdir) / "chime.wav"
            _render(source)
            try:
                prepared = prepare(source, media_dir)
            except (StorageFullError, StorageUnwritableError):
                raise  # the store's fault, said as such: not the chime's
            except AudioError as exc:  # our own sound was refused: a fault here, never the user's
                raise ProcessingError(f"the chime could not be prepared ({exc.message})") from exc
        log.info("chime ready: %s (%d ms, %.1f LUFS)", prepared.path.name, prepared.duration_ms, prepared.loudness_lufs)
        _cache[media_dir] = prepared
        return prepared


def _render(out: Path) -> None:
    def tone(hz: float, seconds: float, label: str) -> str:
        return (
            f"sine=frequency={hz}:sample_rate={SAMPLE_RATE}:duration={seconds},"
            f"afade=t=in:d={ATTACK_S},afade=t=out:st={ATTACK_S}:d={seconds - ATTACK_S:.3f}:curve=cub[{label}]"
        )

    graph = f"{tone(DING_HZ, DING_S, 'ding')};{tone(DONG_HZ, DONG_S, 'dong')};[ding][dong]concat=n=2:v=0:a=1"
    argv = [
        FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-f", "lavfi", "-i", graph,
        "-ac", "1", "-c:a", "pcm_s16le", "-y", f"file:{out}",
    ]  # fmt: skip
    done = run(argv, timeout=PROBE_TIMEOUT_S)
    if done.returncode != 0:
        raise ProcessingError(f"the chime could not be generated ({last_line(done.stderr)})")
