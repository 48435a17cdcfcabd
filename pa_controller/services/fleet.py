"""The fleet registry: import from CSV, list wards and clusters, judge each cluster's status."""

import csv
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pa_controller.domain import ClusterStatus
from pa_controller.errors import NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, User, Ward
from pa_controller.services import access, audit
from pa_protocol import CID_PATTERN

COLUMNS = ("id", "name", "ward_id", "ward_name", "lat", "lon", "speakers")
WARD_ID = re.compile(r"^[a-z0-9-]{1,32}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Vietnam with its islands: a cluster outside is a typo (swapped or shifted digits), not a new site.
LAT_RANGE, LON_RANGE = (8.0, 23.5), (102.0, 117.5)
SPEAKERS = (1, 3)  # horns on one pole (PROTOCOL.md)
STATUS_CHOICES = _("status phải là online, stale, offline hoặc unknown.")


class FleetImportError(ValidationFailed):
    """The CSV has errors; `errors` lists them by row number, and nothing was written."""

    def __init__(self, errors: list[str]):
        super().__init__(_("Tệp danh sách cụm loa có %(n)s lỗi; chưa nhập gì cả. Hãy sửa các dòng được nêu rồi "
                           "nhập lại.", n=len(errors)), code="fleet_invalid")
        self.errors = [str(error) for error in errors]  # rendered now, in the language of the request


@dataclass(frozen=True)
class ImportResult:
    wards: int
    clusters: int
    speakers: int


def _parse_row(line: int, row: dict) -> tuple[dict | None, list[str]]:
    errors = []
    values = {key: (row.get(key) or "").strip() for key in COLUMNS}
    if not CID_PATTERN.match(values["id"]):
        errors.append(_("dòng %(line)s: id “%(value)s” phải gồm 1–32 ký tự a-z, 0-9 và '-'", line=line,
                        value=values["id"]))
    if not WARD_ID.match(values["ward_id"]):
        errors.append(_("dòng %(line)s: ward_id “%(value)s” phải gồm 1–32 ký tự a-z, 0-9 và '-'", line=line,
                        value=values["ward_id"]))
    for key in ("name", "ward_name"):
        if not values[key] or len(values[key]) > 120:
            errors.append(_("dòng %(line)s: %(key)s phải dài 1–120 ký tự", line=line, key=key))
        elif CONTROL.search(values[key]):
            errors.append(_("dòng %(line)s: %(key)s có ký tự điều khiển (NUL, tab…)", line=line, key=key))
    numbers = {}
    for key, (low, high) in (("lat", LAT_RANGE), ("lon", LON_RANGE)):
        try:
            numbers[key] = float(values[key])
            if not low <= numbers[key] <= high:
                raise ValueError
        except ValueError:
            errors.append(_("dòng %(line)s: %(key)s “%(value)s” không phải số trong khoảng %(low)s đến %(high)s",
                            line=line, key=key, value=values[key], low=low, high=high))
    try:
        numbers["speakers"] = int(values["speakers"])
        if not SPEAKERS[0] <= numbers["speakers"] <= SPEAKERS[1]:
            raise ValueError
    except ValueError:
        errors.append(_("dòng %(line)s: speakers “%(value)s” phải là số nguyên từ %(low)s đến %(high)s", line=line,
                        value=values["speakers"], low=SPEAKERS[0], high=SPEAKERS[1]))
    return ({**values, **numbers} if not errors else None), errors


def _read_rows(reader: csv.DictReader) -> tuple[list[dict], list[str]]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise FleetImportError([_("dòng 1: thiếu cột %(missing)s; cần các cột %(columns)s",
                                  missing=", ".join(missing), columns=",".join(COLUMNS))])
    rows, errors, seen = [], [], {}
    for line, row in enumerate(reader, start=2):
        parsed, row_errors = _parse_row(line, row)
        errors += row_errors
        if parsed:
            if parsed["id"] in seen:
                errors.append(_("dòng %(line)s: id “%(value)s” đã có ở dòng %(first)s", line=line, value=parsed["id"],
                                first=seen[parsed["id"]]))
            seen[parsed["id"]] = line
            rows.append(parsed)
    return rows, errors


def import_csv(text: str) -> ImportResult:
    """Import wards and clusters from CSV text, all or nothing; existing ids are updated."""
    reader = csv.DictReader(StringIO(text.lstrip("\ufeff")), strict=True)
    try:
        rows, errors = _read_rows(reader)
    except csv.Error as exc:  # a stray or unclosed quote
        # line_num counts the lines read before the one that failed
        raise FleetImportError([_("dòng %(line)s: không đọc được dạng CSV (%(why)s)", line=reader.line_num + 1,
                                  why=exc)]) from None
    if not rows and not errors:
        errors.append(_("tệp không có cụm loa nào"))
    if errors:
        raise FleetImportError(errors)

    wards = {r["ward_id"]: r["ward_name"] for r in rows}
    was = dict(db.session.execute(select(Cluster.id, Cluster.ward_id)).all())  # every cluster: no IN of 60,000 ids
    for ward_id, name in wards.items():
        db.session.merge(Ward(id=ward_id, name=name))
    for r in rows:
        db.session.merge(Cluster(**{key: r[key] for key in ("id", "name", "ward_id", "lat", "lon", "speakers")}))
    known = set(db.session.scalars(select(ClusterState.cluster_id)))
    db.session.add_all(ClusterState(cluster_id=r["id"]) for r in rows if r["id"] not in known)
    result = ImportResult(wards=len(wards), clusters=len(rows), speakers=sum(r["speakers"] for r in rows))
    # A cluster moved to another ward changes who may command it: each move is kept, from and to.
    moved = {r["id"]: [was[r["id"]], r["ward_id"]] for r in rows if was.get(r["id"], r["ward_id"]) != r["ward_id"]}
    audit.record("fleet.import", "fleet", wards=wards, clusters=result.clusters,
                 added=sum(r["id"] not in known for r in rows), moved=moved or None)
    db.session.commit()
    return result


def effective_status(state: ClusterState | None, now: datetime, heartbeat_s: float) -> ClusterStatus:
    """Judge a cluster on the controller's clock: silent for 2 heartbeats is stale, for 3 offline."""
    if state is None or state.status is ClusterStatus.UNKNOWN:
        return ClusterStatus.UNKNOWN
    if not state.online:
        return ClusterStatus.OFFLINE
    last = state.heartbeat_at or state.status_at
    if last is None:
        return ClusterStatus.ONLINE
    silence = now - last
    if silence > timedelta(seconds=3 * heartbeat_s):
        return ClusterStatus.OFFLINE
    if silence > timedelta(seconds=2 * heartbeat_s):
        return ClusterStatus.STALE
    return ClusterStatus.ONLINE


def active_clusters(ward_ids: list[str] | None = None) -> list[Cluster]:
    """Return the clusters in service, optionally only those of some wards."""
    query = select(Cluster).options(selectinload(Cluster.state)).where(Cluster.retired.is_(False)).order_by(Cluster.id)
    if ward_ids is not None:
        query = query.where(Cluster.ward_id.in_(ward_ids))
    return list(db.session.scalars(query))


def active_cluster_ids() -> list[str]:
    """Return the ids of the clusters in service, without loading the clusters (a stop-all needs no more)."""
    return list(db.session.scalars(select(Cluster.id).where(Cluster.retired.is_(False)).order_by(Cluster.id)))


def wards_for(scope: set[str] | None) -> list[Ward]:
    """Return the wards in a scope (None: all), by name."""
    query = select(Ward).order_by(Ward.name)
    if scope is not None:
        query = query.where(Ward.id.in_(scope))
    return list(db.session.scalars(query))


def require_visible_ward(user: User, ward_id: str) -> None:
    """Refuse a ward outside the user's scope (without saying whether it exists), then one that does not exist."""
    access.require_some_ward(user, {ward_id})
    if db.session.get(Ward, ward_id) is None:
        raise NotFound(_("Không có phường mang mã %(id)s.", id=ward_id))


def status_by_ward(scope: set[str] | None, now: datetime, heartbeat_s: float) -> list[tuple[Ward, Counter, int]]:
    """Count clusters by status in each ward of a scope: (ward, counts by status value, clusters)."""
    wards = wards_for(scope)
    counts = {w.id: Counter() for w in wards}
    # Plain rows, not 10,000 clusters and states built as objects (3 s on the dashboard at province scale).
    rows = db.session.execute(
        select(Cluster.ward_id, ClusterState.status, ClusterState.online, ClusterState.heartbeat_at,
               ClusterState.status_at)
        .outerjoin(ClusterState, ClusterState.cluster_id == Cluster.id)
        .where(Cluster.retired.is_(False), Cluster.ward_id.in_(list(counts))))
    for row in rows:
        state = row if row.status is not None else None  # a row has the fields effective_status reads
        counts[row.ward_id][effective_status(state, now, heartbeat_s).value] += 1
    return [(w, counts[w.id], sum(counts[w.id].values())) for w in wards]


def clusters_for(user, ward: str | None, status: str | None, now: datetime, heartbeat_s: float):
    """Return (cluster, status) of the clusters a user may see, filtered by ward and status value."""
    if status is not None and status not in ClusterStatus._value2member_map_:
        raise ValidationFailed(STATUS_CHOICES, fields={"status": "invalid"})
    scope = access.ward_scope(user)
    wards = [ward] if ward else None
    if scope is not None:
        wards = sorted(scope & set(wards)) if wards else sorted(scope)
    judged = ((c, effective_status(c.state, now, heartbeat_s)) for c in active_clusters(wards))
    return [(c, s) for c, s in judged if status is None or s.value == status]


def get_cluster(user, cid: str) -> Cluster:
    """Return one cluster the user may see."""
    return access.require_seen(user, db.session.get(Cluster, cid), lambda c: {c.ward_id},
                               NotFound(_("Không có cụm loa mang mã %(id)s.", id=cid)))
