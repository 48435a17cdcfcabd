"""The worker removes what killed requests left behind once it is older than any request, and nothing else."""

import hashlib
import os

from audio.chime import chime as the_chime
from pa_controller import clock, settings
from pa_controller.services import leftovers
from tests.factories import make_audio


def _aged(path, directory: bool = False):
    """Make `path` (a file, or a directory with a file in it) as if written long ago."""
    if directory:
        path.mkdir(parents=True)
        (path / "upload.wav").write_bytes(b"RIFF")
    else:
        path.write_bytes(b"ID3")
    long_ago = (clock.now() - 6 * leftovers.GRACE).timestamp()
    os.utime(path, (long_ago, long_ago))
    return path


def test_old_scratch_half_written_and_unnamed_clips_go_while_named_and_recent_files_stay(seeded, tmp_path):
    config = settings.current()
    media, temp = config.media_dir, tmp_path / "temp"
    named = _aged(media / f"{make_audio(sha256=hashlib.sha256(b'named').hexdigest()).sha256}.mp3")
    recent = media / f"{hashlib.sha256(b'being committed').hexdigest()}.mp3"
    recent.write_bytes(b"ID3")  # stored a moment ago: its row may be on its way
    stale = [_aged(media / f"{hashlib.sha256(b'killed').hexdigest()}.mp3"),
             _aged(media / f".{'0' * 64}.abc.part"),
             _aged(temp / "loanet-compose-x1", directory=True),
             _aged(config.instance_dir / "loanet-upload-k1ll3d", directory=True)]
    others = [_aged(temp / "someone-elses", directory=True), _aged(config.instance_dir / "secret-key.old"),
              _aged(config.instance_dir / "tmp_backup", directory=True)]  # an operator's, not a request's
    chime = the_chime(media)
    os.utime(chime.path, (0, 0))  # old, and no row names it: every composed programme still needs it

    gone = leftovers.sweep(clock.now(), temp)

    assert sorted(gone) == sorted(stale)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in (named, recent, chime.path, *others))
