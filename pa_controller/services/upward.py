"""What a province's information system pulls (docs/upward-api.md): devices, the schedule, the proof-of-play log.

Each list is read a page at a time by keyset: a page holds the rows after the last one of the page before, in an
order on columns that never change (a cluster's id; a run's start and id, then the cluster), so a walk meets every
row that existed when it began exactly once, whatever is added meanwhile, and no page costs more than the first.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import Row, and_, func, or_, select

from pa_controller.domain import ClusterStatus
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, BroadcastWard, Cluster, ClusterState, Delivery, Outage, Run, User, Ward
from pa_controller.services import access, fleet
from pa_controller.services.fleet_health import status_sql

FORMAT = "loanet.upward/1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
BAD_CURSOR = _("cursor không hợp lệ: hãy dùng nguyên liên kết `next` của trang trước, không sửa gì trong đó.")


@dataclass(frozen=True)
class Window:
    """From `start` (included) to `end` (excluded), aware."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Page:
    """The rows of one page, and the key of its last row if more follow (None: the walk is over)."""

    rows: list
    after: tuple | None


# --- cursors --------------------------------------------------------------------------------------------------


def encode_cursor(kind: str, key: tuple) -> str:
    """The opaque text a `next` link carries: which list, and the key of the last row given."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"list": kind, "after": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, text: str | None, types: tuple[type, ...]) -> tuple | None:
    """Read a cursor of list `kind` whose key has `types`, or refuse it (422) if it is not one this list gave."""
    if not text:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values = found["after"]
        if found["list"] != kind or len(values) != len(types):
            raise ValueError
        key = tuple(datetime.fromisoformat(v) if t is datetime else v for v, t in zip(values, types, strict=True))
        if not all(type(v) is t for v, t in zip(key, types, strict=True)) or any(
                t is datetime and v.tzinfo is None for v, t in zip(key, types, strict=True)):
            raise ValueError
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(BAD_CURSOR, fields={"cursor": "invalid"}) from None
    return key


def _after(columns, key: tuple):
    """The rows strictly after `key` in the order of `columns`, spelled so the first column can use its index."""
    alternatives = []
    for n, column in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:n], key[:n], strict=True)]
        alternatives.append(and_(*equal, column > key[n]))
    return and_(columns[0] >= key[0], or_(*alternatives))


def _page(rows: list, limit: int, key) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if more else None)


def _ward_filter(user: User, ward: str | None) -> set[str] | None:
    """The wards a list is limited to: the reader's scope, narrowed to `ward` (refused if not theirs)."""
    scope = access.ward_scope(user)
    if ward is None:
        return scope
    fleet.require_visible_ward(user, ward)
    return {ward}


# --- devices --------------------------------------------------------------------------------------------------


DEVICE_COLUMNS = (Cluster.id, Cluster.name, Cluster.ward_id, Ward.name.label("ward_name"), Cluster.lat, Cluster.lon,
                  Cluster.speakers, Cluster.retired, ClusterState.online,
                  ClusterState.status_at, ClusterState.last_seen, ClusterState.heartbeat_at, ClusterState.rssi_dbm,
                  ClusterState.amp_ok, ClusterState.speakers_ok, ClusterState.speakers_total, ClusterState.volume,
                  ClusterState.temp_c, ClusterState.fw)


@dataclass(frozen=True)
class Device:
    row: Row  # DEVICE_COLUMNS: the cluster, its ward's name, its latest state (None where never heard)
    status: ClusterStatus
    since: datetime | None  # when it entered this status, as far as the controller knows


def devices(user: User, ward: str | None, after: tuple | None, limit: int, now: datetime,
            heartbeat_s: float) -> Page:
    """Every cluster the reader may see (retired ones too, flagged), by id, with its status judged now."""
    wards = _ward_filter(user, ward)
    query = (select(*DEVICE_COLUMNS, status_sql(now, heartbeat_s).label("status"))
             .join(Ward, Ward.id == Cluster.ward_id)
             .outerjoin(ClusterState, ClusterState.cluster_id == Cluster.id)
             .order_by(Cluster.id).limit(limit + 1))
    if wards is not None:
        query = query.where(Cluster.ward_id.in_(wards))
    if after is not None:
        query = query.where(Cluster.id > after[0])
    page = _page(db.session.execute(query).all(), limit, lambda row: (row.id,))
    opened, ended = _outages([row.id for row in page.rows])
    found = []
    for row in page.rows:
        status = ClusterStatus(row.status)
        found.append(Device(row, status, _since(row, status, opened, ended)))
    return Page(found, page.after)


def _outages(cluster_ids: list[str]) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """Each cluster's open outage's start, and its last outage's end: two queries for the page."""
    if not cluster_ids:
        return {}, {}
    where = Outage.cluster_id.in_(cluster_ids)
    opened = db.session.execute(select(Outage.cluster_id, func.min(Outage.started_at))
                                .where(where, Outage.ended_at.is_(None)).group_by(Outage.cluster_id))
    ended = db.session.execute(select(Outage.cluster_id, func.max(Outage.ended_at))
                               .where(where, Outage.ended_at.is_not(None)).group_by(Outage.cluster_id))
    return dict(opened.tuples().all()), dict(ended.tuples().all())


def _since(row: Row, status: ClusterStatus, opened: dict, ended: dict) -> datetime | None:
    """Offline: since its outage began (last heard of, or its will); online or stale: since its birth or the end of
    its last outage, whichever is later; never heard from: None."""
    if status is ClusterStatus.UNKNOWN:
        return None
    if status is ClusterStatus.OFFLINE:
        if row.id in opened:
            return opened[row.id]
        return row.last_seen if row.online else row.status_at or row.last_seen
    known = [t for t in (row.status_at, ended.get(row.id)) if t is not None]
    return max(known, default=None)


# --- the schedule ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledRun:
    run: Run
    broadcast: Broadcast
    wards: list[tuple[str, str]]  # (id, name) of the wards it reaches, within the reader's scope


def schedule(user: User, window: Window, ward: str | None, after: tuple | None, limit: int) -> Page:
    """The runs starting within the window that reach the reader's wards, by start, with their broadcasts."""
    wards = _ward_filter(user, ward)
    query = (select(Run, Broadcast).join(Broadcast, Broadcast.id == Run.broadcast_id)
             .where(Run.start_at >= window.start, Run.start_at < window.end)
             .order_by(Run.start_at, Run.id).limit(limit + 1))
    if wards is not None:
        query = query.where(Run.broadcast_id.in_(BroadcastWard.reaching(wards)))
    if after is not None:
        query = query.where(_after((Run.start_at, Run.id), after))
    page = _page(db.session.execute(query).tuples().all(), limit, lambda row: (row[0].start_at, row[0].id))
    reached = _wards_reached({b.id for _, b in page.rows}, access.ward_scope(user))
    # How each run's clusters did is the play log's, not counted here: a page of district runs at 10,000 clusters
    # each would count a million deliveries.
    return Page([ScheduledRun(r, b, reached.get(b.id, [])) for r, b in page.rows], page.after)


def _wards_reached(broadcast_ids: set[int], scope: set[str] | None) -> dict[int, list[tuple[str, str]]]:
    """The wards each broadcast reaches, by name, within a scope: one query for the page."""
    query = (select(BroadcastWard.broadcast_id, Ward.id, Ward.name).join(Ward, Ward.id == BroadcastWard.ward_id)
             .where(BroadcastWard.broadcast_id.in_(broadcast_ids)).order_by(Ward.name))
    if scope is not None:
        query = query.where(Ward.id.in_(scope))
    found: dict[int, list[tuple[str, str]]] = {}
    for broadcast_id, ward_id, name in db.session.execute(query):
        found.setdefault(broadcast_id, []).append((ward_id, name))
    return found


# --- the proof-of-play log ------------------------------------------------------------------------------------


PLAY_COLUMNS = (Run.id.label("run_id"), Run.start_at, Broadcast.id.label("broadcast_id"), Broadcast.title,
                Broadcast.priority, Broadcast.duration_ms, Delivery.cluster_id, Cluster.ward_id, Delivery.state,
                Delivery.at, Delivery.ready_at, Delivery.started_at, Delivery.detail)


def plays(user: User, window: Window, ward: str | None, after: tuple | None, limit: int) -> Page:
    """What each cluster of the reader's wards made of each run starting within the window: by run, then cluster;
    each row has PLAY_COLUMNS."""
    wards = _ward_filter(user, ward)
    order = (Run.start_at, Run.id, Delivery.cluster_id)
    query = (select(*PLAY_COLUMNS)
             .join(Run, Run.id == Delivery.run_id).join(Broadcast, Broadcast.id == Run.broadcast_id)
             .join(Cluster, Cluster.id == Delivery.cluster_id)
             .where(Run.start_at >= window.start, Run.start_at < window.end)
             .order_by(*order).limit(limit + 1))
    if wards is not None:
        query = query.where(Cluster.ward_id.in_(wards))
    if after is not None:
        query = query.where(_after(order, after))
    # Columns, not entities: a page of 1,000 plays as three ORM objects each cost more than the query.
    return _page(db.session.execute(query).all(), limit, lambda row: (row.start_at, row.run_id, row.cluster_id))
