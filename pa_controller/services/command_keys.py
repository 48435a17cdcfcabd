"""The keys that sign commands: create, rotate, activate, publish, and sign with the current one (docs/operations.md).

Private keys are PEM files in PA_KEY_DIR (directory 700, files 600), written by `flask pa keys …` and read only by
the process that signs, the worker: the web tier never holds one. The database holds each key's public half, its
place `seq` in the chain and the statements the controller publishes at GET /api/v1/keys/commands, each signed
once and never changed (pa_protocol.signing):

- the first key, seq 1, endorses itself: it is the anchor a cluster is provisioned with;
- `rotate` creates the next key, seq n + 1, endorsed by the current key n, published at once; the current one
  keeps signing, and clusters learn the next one (every 10 minutes, or when a command names it);
- `activate` makes the next key current; the old one retires: its retirement, signed by its successor, gives it
  a `not_after` no earlier than the last expiry of a command it may have signed, so nothing in flight is refused.

Statements that do not verify (after migration 0017, which could not sign) are signed again by key_statements.py.
"""

import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import KeyState
from pa_controller.extensions import db
from pa_controller.models import CommandKey, OutboxMessage
from pa_controller.services import audit
from pa_protocol.signing import SigningKey, endorse, retire

log = logging.getLogger(__name__)
RETIRE_AFTER_AT_LEAST = timedelta(minutes=1)
PROBLEM_LOG_EVERY_S = 60.0
RESTORE = "restore PA_KEY_DIR from its backup; a new key needs every cluster provisioned again (docs/operations.md)"


class CommandKeyError(Exception):
    """A key operation that cannot be done now; the message says why and what to do.

    `word` is what GET /api/v1/health says of it: short, and without a path (health needs no token).
    """

    word = "key unusable"


class NoCurrentKey(CommandKeyError):
    """No key signs commands: none was created, or none is current."""

    word = "no key"


class KeyFileError(CommandKeyError):
    """A private key file that is missing or cannot be read; carries its path and says what to do."""

    def __init__(self, path: Path, problem: str, remedy: str = RESTORE, missing: bool = False):
        super().__init__(f"the private key file {path} {problem}: {remedy}")
        self.path = path
        self.word = "key file missing" if missing else "key file unreadable"


class KeyFiles:
    """The private keys in PA_KEY_DIR, one PEM file each, `{kid}.pem`, readable by their owner only."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path(self, kid: str) -> Path:
        return self.directory / f"{kid}.pem"

    def create(self, key: SigningKey) -> Path:
        """Write a new key's file, mode 600, in a directory of mode 700 (made if missing)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        path = self.path(key.kid)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise KeyFileError(path, f"cannot be created ({exc.strerror})",
                               f"check that {self.directory} is writable by this user") from exc
        with os.fdopen(handle, "wb") as file:
            file.write(key.to_pem())
            file.flush()
            os.fsync(file.fileno())
        return path

    def read(self, kid: str) -> SigningKey:
        """Return the private key `kid`; raise KeyFileError naming the file and what to do."""
        path = self.path(kid)
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(path, f"of command key {kid} is missing", missing=True) from None
        except OSError as exc:
            raise KeyFileError(path, f"of command key {kid} cannot be read ({exc.strerror})",
                               "run the worker and `flask pa keys` as the user that owns it") from exc
        try:
            key = SigningKey.from_pem(pem)
        except ValueError as exc:
            raise KeyFileError(path, f"is not a usable key ({exc})") from exc
        if key.kid != kid:
            raise KeyFileError(path, f"holds key {key.kid}, not {kid}")
        return key


def _in_state(state: KeyState) -> CommandKey | None:
    return db.session.scalar(select(CommandKey).where(CommandKey.state == state))


def current_key() -> CommandKey | None:
    """Return the key that signs commands now, if there is one."""
    return _in_state(KeyState.CURRENT)


def all_keys() -> list[CommandKey]:
    """Return every key in the order of the chain, oldest first."""
    return list(db.session.scalars(select(CommandKey).order_by(CommandKey.seq)))


def init(files: KeyFiles, now: datetime | None = None) -> tuple[CommandKey, bool]:
    """Create the first key, seq 1, endorsed by itself, unless a current key exists; return it and whether it is
    new."""
    existing = current_key()
    if existing is not None:
        return existing, False
    if all_keys():
        raise CommandKeyError("there are command keys but none is current: activate the next one with "
                              "`flask pa keys activate`")
    now = now or clock.now()
    key = SigningKey.generate()
    files.create(key)
    entry = endorse(1, key.kid, key.public_key, key)
    row = CommandKey(kid=key.kid, seq=1, public_key=key.public_key, state=KeyState.CURRENT, created_at=now,
                     activated_at=now, signed_by=entry["signed_by"], signature=entry["signature"])
    db.session.add(row)
    audit.record("command_key.create", f"command_key:{key.kid}", file=str(files.path(key.kid)))
    db.session.commit()
    return row, True


def rotate(files: KeyFiles, now: datetime | None = None) -> CommandKey:
    """Create the next key, seq n + 1, endorsed by the current one (seq n) and published at once; the current one
    keeps signing."""
    current = current_key()
    if current is None:
        raise CommandKeyError("there is no current command key to endorse the next one: run `flask pa keys init`")
    waiting = _in_state(KeyState.NEXT)
    if waiting is not None:
        raise CommandKeyError(f"key {waiting.kid} already waits as the next key: activate it with "
                              "`flask pa keys activate` before rotating again")
    endorser = files.read(current.kid)
    now = now or clock.now()
    key = SigningKey.generate()
    files.create(key)
    seq = current.seq + 1
    entry = endorse(seq, key.kid, key.public_key, endorser)
    row = CommandKey(kid=key.kid, seq=seq, public_key=key.public_key, state=KeyState.NEXT, created_at=now,
                     signed_by=entry["signed_by"], signature=entry["signature"])
    db.session.add(row)
    audit.record("command_key.rotate", f"command_key:{key.kid}", endorsed_by=current.kid,
                 file=str(files.path(key.kid)))
    db.session.commit()
    return row


def activate(files: KeyFiles, now: datetime | None = None) -> tuple[CommandKey, CommandKey | None]:
    """Make the next key current and retire the current one, its retirement signed by the next; return (new
    current, retired). No endorsement changes."""
    waiting = _in_state(KeyState.NEXT)
    if waiting is None:
        raise CommandKeyError("there is no next key to activate: run `flask pa keys rotate` first, and give the "
                              "clusters time to learn it (they fetch the key list every 10 minutes)")
    successor = files.read(waiting.kid)  # the worker must be able to sign with it, or no command goes out
    now = now or clock.now()
    retired = current_key()
    if retired is not None:
        retired.not_after = retire_after(now)
        retirement = retire(retired.kid, retired.not_after, successor)
        retired.state, retired.retired_at = KeyState.RETIRED, now
        retired.retired_by, retired.retirement_signature = retirement["retired_by"], retirement["retirement_signature"]
        db.session.flush()  # one current key at a time: the unique index sees the retirement first
    waiting.state, waiting.activated_at = KeyState.CURRENT, now
    audit.record("command_key.activate", f"command_key:{waiting.kid}", retired=retired.kid if retired else None,
                 not_after=retired.not_after.isoformat() if retired else None)
    db.session.commit()
    return waiting, retired


def retire_after(now: datetime) -> datetime:
    """Return when a key retired now stops signing: after every command in the outbox may have expired, at least
    a minute from now, rounded up to a whole second (the wire keeps milliseconds: never a moment too soon).

    Any row not yet expired may have gone out signed by it (the worker reads the rows, then the current key), so
    the latest expiry among them bounds what is in flight.
    """
    latest = db.session.scalar(select(func.max(OutboxMessage.expires_at)).where(OutboxMessage.expires_at > now))
    floor = now + RETIRE_AFTER_AT_LEAST
    moment = max(latest, floor) if latest is not None else floor
    return moment.replace(microsecond=0) + timedelta(seconds=1) if moment.microsecond else moment


def published() -> list[dict]:
    """Return the key list in the order of the chain: each key's entry, its endorsement, its retirement if it has
    one, and its state (the controller's, outside the statements)."""
    entries = []
    for key in all_keys():
        entry = {"seq": key.seq, "id": key.kid, "public_key": key.public_key, "state": key.state.value,
                 "signed_by": key.signed_by, "signature": key.signature}
        if key.not_after is not None:
            entry["not_after"] = protocol.format_time(key.not_after)
        if key.retired_by is not None and key.retirement_signature is not None:
            entry["retired_by"], entry["retirement_signature"] = key.retired_by, key.retirement_signature
        entries.append(entry)
    return entries


class Signer:
    """Sign commands with the current key, read from its file once per key; used by the worker's outbox.

    `problem` says why commands cannot be signed (None when they can), with the path of a key file and what to do;
    each new problem is logged at once as an error, and again every minute while it lasts. `word` says it in a word
    or three for GET /api/v1/health.
    """

    def __init__(self, files: KeyFiles):
        self.files = files
        self.problem: str | None = None
        self.word: str | None = None
        self._keys: dict[str, SigningKey] = {}
        self._logged_at = 0.0

    def current(self) -> SigningKey | None:
        """Return the current key (needs an app context), or None after noting the problem."""
        kid = db.session.scalar(select(CommandKey.kid).where(CommandKey.state == KeyState.CURRENT))
        try:
            if kid is None:
                raise NoCurrentKey("no command key: commands wait unsigned until one exists; run `flask pa keys init`")
            if kid not in self._keys:
                self._keys[kid] = self.files.read(kid)
        except CommandKeyError as exc:
            self._note(str(exc))
            self.word = exc.word
            return None
        self._note(None)
        self.word = None
        return self._keys[kid]

    def _note(self, problem: str | None) -> None:
        now = time.monotonic()
        if problem is not None and (problem != self.problem or now - self._logged_at >= PROBLEM_LOG_EVERY_S):
            log.error("commands cannot be signed, so none goes out: %s", problem)
            self._logged_at = now
        elif problem is None and self.problem is not None:
            log.info("commands are signed again")
        self.problem = problem
