"""Fleet health for technicians: status judged in SQL, availability from outages, the cluster table and map."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from flask_babel import lazy_gettext as _
from sqlalchemy import Float, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from pa_controller.domain import ClusterStatus
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Cluster, ClusterState, Delivery, Outage, Run, TelemetryBucket, Ward
from pa_controller.models.types import UTCDateTime
from pa_controller.services import access, fleet
from pa_controller.textfold import fold, folded

WINDOWS = (timedelta(hours=24), timedelta(days=7))  # the availability windows shown everywhere
PAGE_SIZE = 100
SORTS = ("id", "name", "ward", "status", "last_seen", "rssi", "temp")
SEARCH_MAX = 64
TELEMETRY_STEP = timedelta(minutes=5)  # one TelemetryBucket
OUTAGES_SHOWN = 50
DELIVERIES_SHOWN = 20


class epoch_seconds(FunctionElement):
    """Seconds since 1970 of a stored UTC time, as a float, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds)
def _epoch_postgresql(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def status_sql(now: datetime, heartbeat_s: float):
    """Judge each row of Cluster outer-joined to ClusterState in SQL, exactly as fleet.effective_status does."""
    last = func.coalesce(ClusterState.heartbeat_at, ClusterState.status_at, type_=UTCDateTime)
    return case(
        (or_(ClusterState.cluster_id.is_(None), ClusterState.status == ClusterStatus.UNKNOWN),
         literal(ClusterStatus.UNKNOWN.value)),
        (ClusterState.online.is_not(True), literal(ClusterStatus.OFFLINE.value)),
        (last.is_(None), literal(ClusterStatus.ONLINE.value)),
        (last < now - timedelta(seconds=3 * heartbeat_s), literal(ClusterStatus.OFFLINE.value)),
        (last < now - timedelta(seconds=2 * heartbeat_s), literal(ClusterStatus.STALE.value)),
        else_=literal(ClusterStatus.ONLINE.value),
    )


def _judged(now: datetime, heartbeat_s: float, scope: set[str] | None):
    """Return a subquery of the clusters in service within a scope, each with its status and latest measurements."""
    query = (
        select(Cluster.id, Cluster.name, Cluster.ward_id, Cluster.lat, Cluster.lon,
               status_sql(now, heartbeat_s).label("status"), ClusterState.last_seen, ClusterState.rssi_dbm,
               ClusterState.temp_c)
        .outerjoin(ClusterState, ClusterState.cluster_id == Cluster.id)
        .where(Cluster.retired.is_(False))
    )
    if scope is not None:
        query = query.where(Cluster.ward_id.in_(scope))
    return query.subquery("judged")


# --- availability -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    """Share of time available over each of WINDOWS (0–1), None when there is nothing to judge."""

    day: float | None
    week: float | None


NOT_JUDGED = Availability(None, None)


def _offline_seconds(now: datetime):
    """Return SUM() expressions of offline seconds within each of WINDOWS, open outages counted up to now."""
    open_or_after_now = or_(Outage.ended_at.is_(None), Outage.ended_at > now)
    end = case((open_or_after_now, literal(now.timestamp())), else_=epoch_seconds(Outage.ended_at))
    sums = []
    for window in WINDOWS:
        start = now - window
        begin = case((Outage.started_at < start, literal(start.timestamp())), else_=epoch_seconds(Outage.started_at))
        overlaps = and_(or_(Outage.ended_at.is_(None), Outage.ended_at > start), end > begin)
        sums.append(func.sum(case((overlaps, end - begin), else_=literal(0.0))))
    return sums


def _clamped(seconds) -> list[float]:
    """Clamp per cluster: overlapping outage rows of one cluster must not make it more than 100 % offline."""
    return [min(float(s or 0), w.total_seconds()) for s, w in zip(seconds, WINDOWS, strict=True)]


def _in_windows(now: datetime):
    """Return the conditions of an outage overlapping the widest window."""
    return Outage.started_at < now, or_(Outage.ended_at.is_(None), Outage.ended_at > now - max(WINDOWS))


def _offline_by_ward(now: datetime, scope: set[str] | None) -> dict[str, list[float]]:
    """Offline seconds of each ward's clusters in service within each of WINDOWS, in one query."""
    query = (select(Cluster.ward_id, *_offline_seconds(now))
             .join(Cluster, Cluster.id == Outage.cluster_id)
             .where(Cluster.retired.is_(False), *_in_windows(now))
             .group_by(Outage.cluster_id, Cluster.ward_id))
    if scope is not None:
        query = query.where(Cluster.ward_id.in_(scope))
    wards: dict[str, list[float]] = {}
    for ward_id, *seconds in db.session.execute(query):
        wards[ward_id] = [a + b for a, b in zip(wards.get(ward_id, [0.0] * len(WINDOWS)), _clamped(seconds),
                                                strict=True)]
    return wards


def _ever_heard(counts: Mapping[ClusterStatus, int]) -> int:
    """Clusters that count towards availability: one never heard from is not available, nor 100 % available."""
    return sum(n for status, n in counts.items() if status is not ClusterStatus.UNKNOWN)


def _availability(offline: list[float], clusters: int) -> Availability:
    if not clusters:
        return Availability(None, None)
    day, week = (1 - off / (clusters * w.total_seconds()) for off, w in zip(offline, WINDOWS, strict=True))
    return Availability(day, week)


def cluster_availability(cluster_ids: list[str], now: datetime) -> dict[str, Availability]:
    """Return the availability of each of some clusters (1 − offline time / window), in one query."""
    offline = {}
    if cluster_ids:
        query = (select(Outage.cluster_id, *_offline_seconds(now))
                 .where(Outage.cluster_id.in_(cluster_ids), *_in_windows(now)).group_by(Outage.cluster_id))
        offline = {cid: _clamped(seconds) for cid, *seconds in db.session.execute(query)}
    return {cid: _availability(offline.get(cid, [0.0] * len(WINDOWS)), 1) for cid in cluster_ids}


# --- the summary --------------------------------------------------------------------------------------------


@dataclass
class WardHealth:
    """One ward's clusters by status, and its availability; `ward` is None for the whole scope."""

    ward: Ward | None
    counts: dict[ClusterStatus, int]
    availability: Availability

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class FleetSummary:
    district: WardHealth
    wards: list[WardHealth] = field(default_factory=list)


def summary(scope: set[str] | None, now: datetime, heartbeat_s: float) -> FleetSummary:
    """Count clusters by status and compute availability over 24 h and 7 d, by ward and for the whole scope."""
    wards = fleet.wards_for(scope)
    judged = _judged(now, heartbeat_s, scope)
    counts = {w.id: dict.fromkeys(ClusterStatus, 0) for w in wards}
    for ward_id, status, n in db.session.execute(
            select(judged.c.ward_id, judged.c.status, func.count()).group_by(judged.c.ward_id, judged.c.status)):
        counts[ward_id][ClusterStatus(status)] = n
    by_ward = _offline_by_ward(now, scope)
    offline = {w.id: by_ward.get(w.id, [0.0] * len(WINDOWS)) for w in wards}
    rows = [WardHealth(w, counts[w.id], _availability(offline[w.id], _ever_heard(counts[w.id]))) for w in wards]
    district_counts = {s: sum(r.counts[s] for r in rows) for s in ClusterStatus}
    district_offline = [sum(offline[w.id][i] for w in wards) for i in range(len(WINDOWS))]
    district = WardHealth(None, district_counts, _availability(district_offline, _ever_heard(district_counts)))
    return FleetSummary(district=district, wards=rows)


# --- the cluster table --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterQuery:
    """What the cluster table shows: a ward, a status, a search in id and name, a sort, a page (from 1)."""

    ward: str | None = None
    status: ClusterStatus | None = None
    search: str = ""
    sort: str = "id"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> "ClusterQuery":
        """Read the table's query string; refuse values the form never sends."""
        status = args.get("status") or None
        if status is not None and status not in ClusterStatus._value2member_map_:
            raise ValidationFailed(fleet.STATUS_CHOICES, fields={"status": "invalid"})
        sort = args.get("sort") or "id"
        if sort not in SORTS:
            raise ValidationFailed(_("sort phải là một trong %(choices)s.", choices=", ".join(SORTS)),
                                   fields={"sort": "invalid"})
        order = args.get("order") or "asc"
        if order not in ("asc", "desc"):
            raise ValidationFailed(_("order phải là asc hoặc desc."), fields={"order": "invalid"})
        page = args.get("page") or "1"
        if not page.isdigit() or not 1 <= int(page) <= 1_000_000:
            raise ValidationFailed(_("page phải là số nguyên từ 1 trở lên."), fields={"page": "invalid"})
        search = (args.get("q") or "").strip()
        if len(search) > SEARCH_MAX:
            raise ValidationFailed(_("Hãy tìm với nhiều nhất %(n)s ký tự.", n=SEARCH_MAX), fields={"q": "too_long"})
        return cls(ward=args.get("ward") or None, status=ClusterStatus(status) if status else None, search=search,
                   sort=sort, descending=order == "desc", page=int(page))

    def args(self, **changes) -> dict[str, str | int]:
        """Return the query string of this query with some changes, leaving defaults out."""
        query = replace(self, **changes)
        values = {"ward": query.ward, "status": query.status.value if query.status else None, "q": query.search,
                  "sort": query.sort if query.sort != "id" else None, "order": "desc" if query.descending else None,
                  "page": query.page if query.page != 1 else None}
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class ClusterRow:
    id: str
    name: str
    ward_id: str
    ward_name: str
    status: ClusterStatus
    last_seen: datetime | None
    rssi_dbm: float | None
    temp_c: float | None
    availability: Availability | None = None


@dataclass
class ClusterPage:
    query: ClusterQuery
    rows: list[ClusterRow]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _status_rank(column):
    """Rank statuses as the enum orders them: online, stale, offline, unknown."""
    return case({s.value: rank for rank, s in enumerate(ClusterStatus)}, value=column)


def list_clusters(user, query: ClusterQuery, now: datetime, heartbeat_s: float) -> ClusterPage:
    """Return one page of the clusters the user may see, filtered, searched and sorted in SQL."""
    scope = access.ward_scope(user)
    if query.ward is not None:
        access.require_wards(user, {query.ward})
    judged = _judged(now, heartbeat_s, scope)
    conditions = []
    if query.ward is not None:
        conditions.append(judged.c.ward_id == query.ward)
    if query.status is not None:
        conditions.append(judged.c.status == query.status.value)
    if query.search:
        wanted = fold(query.search)  # "cum 7" finds "cụm 7"
        conditions.append(or_(judged.c.id.contains(wanted, autoescape=True),
                              folded(judged.c.name).contains(wanted, autoescape=True)))
    total = db.session.scalar(select(func.count()).select_from(judged).where(*conditions))
    pages = max(1, -(-total // PAGE_SIZE))
    if query.page > pages:
        query = replace(query, page=pages)
    key = {"id": judged.c.id, "name": judged.c.name, "ward": Ward.name,
           "status": _status_rank(judged.c.status), "last_seen": judged.c.last_seen, "rssi": judged.c.rssi_dbm,
           "temp": judged.c.temp_c}[query.sort]
    # Missing values (never heard from) go last either way; the id breaks ties so pages never overlap.
    order = (key.desc() if query.descending else key.asc()).nulls_last()
    statement = (select(judged, Ward.name.label("ward_name")).join(Ward, Ward.id == judged.c.ward_id)
                 .where(*conditions).order_by(order, judged.c.id)
                 .limit(PAGE_SIZE).offset((query.page - 1) * PAGE_SIZE))
    rows = db.session.execute(statement).all()
    judged_ids = [r.id for r in rows if r.status != ClusterStatus.UNKNOWN.value]
    availability = cluster_availability(judged_ids, now)
    return ClusterPage(query=query, total=total, rows=[
        ClusterRow(id=r.id, name=r.name, ward_id=r.ward_id, ward_name=r.ward_name, status=ClusterStatus(r.status),
                   last_seen=r.last_seen, rssi_dbm=r.rssi_dbm, temp_c=r.temp_c,
                   availability=availability.get(r.id, NOT_JUDGED))
        for r in rows])


# --- the map ------------------------------------------------------------------------------------------------


class MapPoint(NamedTuple):
    id: str
    name: str
    lat: float
    lon: float
    status: ClusterStatus


_STATUS = {status.value: status for status in ClusterStatus}  # a dict lookup: 10,000 Enum calls cost 10 ms
MAP_ORDER = (ClusterStatus.ONLINE, ClusterStatus.UNKNOWN, ClusterStatus.STALE, ClusterStatus.OFFLINE)


def map_points(scope: set[str] | None, now: datetime, heartbeat_s: float) -> list[MapPoint]:
    """Return every cluster in a scope with its position and status, in MAP_ORDER so trouble is drawn on top."""
    judged = _judged(now, heartbeat_s, scope)
    statement = select(judged.c.id, judged.c.name, judged.c.lat, judged.c.lon, judged.c.status)
    # Core and fetchall(): the ORM's result handling, or psycopg's row-by-row fetchone(), cost more than the query.
    rows = db.session.connection().execute(statement).fetchall()
    rank = {status: n for n, status in enumerate(MAP_ORDER)}
    points = [MapPoint(cid, name, lat, lon, _STATUS[status]) for cid, name, lat, lon, status in rows]
    points.sort(key=lambda point: (rank[point.status], point.id))  # here: the same order whatever the collation
    return points


# --- one cluster --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelemetryPoint:
    at: datetime
    rssi_avg: float | None
    rssi_min: float | None
    temp_avg: float | None
    temp_max: float | None


@dataclass
class ClusterHealth:
    status: ClusterStatus
    availability: Availability
    day: list[TelemetryPoint]  # the last 24 h, one point per five-minute bucket
    week: list[TelemetryPoint]  # the last 7 d, one point per hour
    outages: list[Outage]  # the newest OUTAGES_SHOWN, newest first
    deliveries: list[tuple[Delivery, Run, Broadcast]]  # the newest DELIVERIES_SHOWN, newest first


def _weighted(values: list[tuple[float | None, int]]) -> float | None:
    known = [(v, max(beats, 1)) for v, beats in values if v is not None]
    return sum(v * b for v, b in known) / sum(b for _, b in known) if known else None


def _hourly(buckets: list) -> list[TelemetryPoint]:
    """Roll five-minute buckets up to hours (Việt Nam is a whole number of hours from UTC)."""
    hours: dict[datetime, list] = {}
    for bucket in buckets:
        hours.setdefault(bucket.bucket_at.replace(minute=0, second=0, microsecond=0), []).append(bucket)
    points = []
    for hour, group in hours.items():
        lows = [b.rssi_min for b in group if b.rssi_min is not None]
        highs = [b.temp_max for b in group if b.temp_max is not None]
        points.append(TelemetryPoint(hour, _weighted([(b.rssi_avg, b.beats) for b in group]), min(lows, default=None),
                                     _weighted([(b.temp_avg, b.beats) for b in group]), max(highs, default=None)))
    return points


def cluster_health(cluster: Cluster, now: datetime, heartbeat_s: float) -> ClusterHealth:
    """Return what the cluster page shows: status, availability, telemetry, outages and recent deliveries."""
    tb = TelemetryBucket
    buckets = db.session.execute(  # columns, not entities: a week is 2,016 rows
        select(tb.bucket_at, tb.beats, tb.rssi_avg, tb.rssi_min, tb.temp_avg, tb.temp_max)
        .where(tb.cluster_id == cluster.id, tb.bucket_at > now - max(WINDOWS), tb.bucket_at <= now)
        .order_by(tb.bucket_at)).all()
    day_start = now - min(WINDOWS)
    day = [TelemetryPoint(b.bucket_at, b.rssi_avg, b.rssi_min, b.temp_avg, b.temp_max)
           for b in buckets if b.bucket_at > day_start]
    outages = list(db.session.scalars(
        select(Outage).where(Outage.cluster_id == cluster.id)
        .order_by(Outage.started_at.desc(), Outage.id.desc()).limit(OUTAGES_SHOWN)))
    deliveries = list(db.session.execute(
        select(Delivery, Run, Broadcast).join(Run, Run.id == Delivery.run_id)
        .join(Broadcast, Broadcast.id == Run.broadcast_id)
        .where(Delivery.cluster_id == cluster.id)
        .order_by(Run.start_at.desc(), Run.id.desc()).limit(DELIVERIES_SHOWN)).tuples())
    status = fleet.effective_status(cluster.state, now, heartbeat_s)
    return ClusterHealth(status=status,
                         availability=(NOT_JUDGED if status is ClusterStatus.UNKNOWN
                                       else cluster_availability([cluster.id], now)[cluster.id]),
                         day=day, week=_hourly(buckets), outages=outages, deliveries=deliveries)
