"""Broker access: each cluster's password, issued once and kept as a hash, and the broker's files kept in step.

Who may log in to the broker follows the fleet: a cluster in service with a password has an account that may
read its own `cmd` and write its own `status`, `heartbeat` and `events`; a retired cluster, or one whose
password was revoked, has none. The worker (`BrokerSync`) rewrites the broker's password and ACL files when
that changes and makes the broker reload them, so a cluster enrolled while the broker runs can connect and a
retired one is disconnected, without a restart.
"""

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.errors import Conflict, NotFound
from pa_controller.extensions import db
from pa_controller.messaging.broker import accounts
from pa_controller.messaging.broker.config import BrokerFiles
from pa_controller.messaging.broker.reload import BrokerReloadError, reload
from pa_controller.messaging.link import broker_address
from pa_controller.models import BrokerCredential, Cluster, User
from pa_controller.services import access, audit
from pa_controller.settings import Settings
from pa_protocol import CID_PATTERN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issued:
    """A password as it is handed out: once, to whoever provisions the device (its username is the cid)."""

    cid: str
    password: str


def _clusters(cids: Iterable[str]) -> list[Cluster]:
    found = []
    for cid in dict.fromkeys(cids):
        cluster = db.session.get(Cluster, cid) if CID_PATTERN.match(cid) else None
        if cluster is None:
            raise NotFound(_("Không có cụm loa mang mã %(id)s.", id=cid), fields={"cluster": "not_found"})
        if cluster.retired:
            raise Conflict(_("Cụm loa %(id)s đã ngừng sử dụng: không cấp mật khẩu kết nối cho nó.", id=cid),
                           code="retired")
        found.append(cluster)
    return found


def issue(cids: Iterable[str] = (), *, missing: bool = False, reissue: bool = False) -> list[Issued]:
    """Issue broker passwords and commit their hashes; return the passwords, which are kept nowhere else.

    `cids` get one if they have none (with `reissue`, a new one in any case: the old stops working when the
    broker next reloads); with `missing`, so does every cluster in service that has none.
    """
    wanted = _clusters(cids)
    if missing:
        have = set(db.session.scalars(select(BrokerCredential.cluster_id)))
        named = {c.id for c in wanted}
        wanted += [c for c in db.session.scalars(select(Cluster).where(Cluster.retired.is_(False)).order_by(Cluster.id))
                   if c.id not in have and c.id not in named]
    now = clock.now()
    issued, to, reissued = [], [], []
    for cluster in wanted:
        credential = db.session.get(BrokerCredential, cluster.id)
        if credential is not None and not reissue:
            continue
        password = accounts.new_password()
        if credential is None:
            credential = BrokerCredential(cluster_id=cluster.id)
            db.session.add(credential)
        elif credential.password_hash is not None:
            reissued.append(cluster.id)
        credential.password_hash, credential.issued_at = accounts.hash_password(password), now
        issued.append(Issued(cluster.id, password))
        to.append(cluster)
    if to:  # one entry for the lot: make run issues 456 at once
        audit.record("broker.password_issued", f"cluster:{to[0].id}" if len(to) == 1 else None,
                     wards=[c.ward_id for c in to], clusters=[c.id for c in to], reissued=reissued)
    db.session.commit()
    return issued


def issue_to(user: User, cid: str) -> Issued:
    """Give one cluster a new password (administrators): for a device being provisioned, or one that lost it."""
    access.require_role(user, Role.ADMIN)
    return issue([cid], reissue=True)[0]


def revoke(cids: Iterable[str]) -> list[str]:
    """Remove clusters' passwords: they can no longer log in once the broker reloads; return those removed."""
    removed, wards = [], []
    for cid in dict.fromkeys(cids):
        credential = db.session.get(BrokerCredential, cid)
        if credential is None:
            continue
        wards.append(db.session.get(Cluster, cid).ward_id)
        db.session.delete(credential)
        removed.append(cid)
    if removed:
        audit.record("broker.password_revoked", f"cluster:{removed[0]}" if len(removed) == 1 else None,
                     wards=wards, clusters=removed)
    db.session.commit()
    return removed


def unmatched(passwords: dict[str, str]) -> list[str]:
    """Return the clusters in service whose current password is not the one `passwords` holds for them."""
    rows = db.session.execute(select(Cluster.id, BrokerCredential.password_hash).outerjoin(BrokerCredential)
                              .where(Cluster.retired.is_(False)).order_by(Cluster.id))
    return [cid for cid, hashed in rows
            if hashed is None or cid not in passwords or not accounts.password_matches(passwords[cid], hashed)]


def ensure_own_accounts(settings: Settings) -> None:
    """Make the passwords of LoaNet's own accounts (the controller, the monitor, the ingest processes) if they are
    not there yet."""
    if _url_login(settings) is None:
        accounts.ensure_secret(settings.mqtt_password_file)
    files = BrokerFiles(settings.broker_dir)
    accounts.ensure_secret(files.monitor_secret)
    for number in range(1, settings.ingest_workers + 1):
        accounts.ensure_secret(files.ingest_secret(number))


def _url_login(settings: Settings) -> tuple[str, str] | None:
    """The controller's login when PA_MQTT_URL carries one: its account must then have that password."""
    address = broker_address(settings.mqtt_url)
    return (address["username"], address["password"] or "") if address["username"] else None


def _controller_login(settings: Settings) -> tuple[str, str]:
    return _url_login(settings) or (settings.mqtt_username, accounts.read_secret(settings.mqtt_password_file))


@dataclass(frozen=True)
class _Inputs:
    """Everything the broker's account files are made from."""

    root: str
    controller: tuple[str, str] = field(repr=False)  # username, password
    monitor: str = field(repr=False)  # password
    ingest: tuple[str, ...] = field(default=(), repr=False)  # the passwords of ingest processes 1, 2, …
    clusters: tuple[tuple[str, str], ...] = ()  # (cid, password hash)
    local_passwd: str = ""
    local_acl: str = ""

    def fingerprint(self) -> str:
        parts = (self.root, self.controller, self.monitor, self.ingest, self.clusters, self.local_passwd,
                 self.local_acl)
        return hashlib.sha256(repr(parts).encode()).hexdigest()


def _read_local(path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _inputs(settings: Settings, files: BrokerFiles) -> _Inputs:
    clusters = db.session.execute(select(BrokerCredential.cluster_id, BrokerCredential.password_hash).join(Cluster)
                                  .where(Cluster.retired.is_(False)).order_by(BrokerCredential.cluster_id)).all()
    db.session.commit()  # end the read: the worker's session is reused
    ingest = tuple(accounts.read_secret(files.ingest_secret(n)) for n in range(1, settings.ingest_workers + 1))
    return _Inputs(settings.mqtt_root, _controller_login(settings), accounts.read_secret(files.monitor_secret),
                   ingest, tuple(map(tuple, clusters)), _read_local(files.local_passwd), _read_local(files.local_acl))


def write_accounts(settings: Settings) -> str:
    """Write the broker's password and ACL files from the fleet and LoaNet's own accounts; return their fingerprint."""
    files = BrokerFiles(settings.broker_dir)
    inputs = _inputs(settings, files)
    _write(files, inputs)
    return inputs.fingerprint()


def _write(files: BrokerFiles, inputs: _Inputs) -> None:
    accounts.check_local_acl(inputs.local_acl, str(files.local_acl))
    root = inputs.root
    own = [accounts.controller(inputs.controller[0], accounts.hash_password(inputs.controller[1]), root),
           accounts.monitor(accounts.MONITOR, accounts.hash_password(inputs.monitor), root),
           *(accounts.ingest(accounts.ingest_username(number), accounts.hash_password(password), root)
             for number, password in enumerate(inputs.ingest, start=1))]
    every = own + [accounts.cluster(cid, hashed, root) for cid, hashed in inputs.clusters]
    # Hashes only, no password: readable by the group too, so a broker running as another user in the
    # directory's group (production's `mosquitto`) can read them.
    accounts.write_private(files.passwd, accounts.render_passwd(every, inputs.local_passwd), 0o640)
    accounts.write_private(files.acl, accounts.render_acl(every, inputs.local_acl), 0o640)


class BrokerSync:
    """Keep the broker's account files in step with the fleet, and make the broker reload them when they change.

    Run by the worker every few seconds: a fingerprint of what the files are made from decides whether anything
    changed, so an idle fleet costs one small query. The first call always writes and reloads.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.files = BrokerFiles(settings.broker_dir)
        self.written: str | None = None
        self._last_error: str | None = None

    def sync(self) -> bool:
        """Rewrite and reload if the accounts changed since the last time; return whether they had."""
        try:
            inputs = _inputs(self.settings, self.files)
            if inputs.fingerprint() == self.written:
                return False
            _write(self.files, inputs)
            reload(self.files.pid, self.settings.broker_reload)
        except (accounts.BrokerFilesError, BrokerReloadError, OSError) as exc:
            if str(exc) != self._last_error:  # once per cause, not every few seconds
                log.error("the broker's accounts could not be brought up to date: %s", exc)
            self._last_error = str(exc)
            return False
        self.written, self._last_error = inputs.fingerprint(), None
        log.info("broker accounts rewritten (%d clusters) and the broker reloaded", len(inputs.clusters))
        return True
