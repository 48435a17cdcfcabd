"""Reading the audit log (administrators): entries filtered and paged for the page, all of them for the CSV."""

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from io import StringIO

from sqlalchemy import Select, func, select

from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, User
from pa_controller.services import access
from pa_controller.services.fleet_admin import FORMULA_STARTS

PER_PAGE = 100
CSV_COLUMNS = ("id", "at_local", "at_utc", "actor", "user_id", "address", "action", "target", "ward_id", "detail")


@dataclass(frozen=True)
class AuditQuery:
    """What the page's filters ask: an action or its family (`broadcast` is every `broadcast.*`), who, which ward,
    and which local days."""

    action: str | None = None
    actor: str | None = None
    ward: str | None = None
    since: date | None = None
    until: date | None = None
    page: int = 1

    def args(self, **changes) -> dict:
        """The query string of these filters with `changes`, for links to other pages."""
        changed = replace(self, **changes)
        values = {"action": changed.action, "actor": changed.actor, "ward": changed.ward,
                  "since": changed.since and changed.since.isoformat(),
                  "until": changed.until and changed.until.isoformat(), "page": changed.page}
        return {key: value for key, value in values.items() if value not in (None, "", 1)}


@dataclass(frozen=True)
class AuditPage:
    query: AuditQuery
    entries: list[AuditEntry]
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PER_PAGE))


def _filtered(query: AuditQuery) -> Select:
    statement = select(AuditEntry)
    if query.action:
        family = query.action.rstrip(".")
        statement = statement.where((AuditEntry.action == family) | AuditEntry.action.startswith(family + ".",
                                                                                                  autoescape=True))
    if query.actor:
        statement = statement.where(AuditEntry.actor == query.actor)
    if query.ward:
        statement = statement.where(AuditEntry.ward_id == query.ward)
    if query.since:
        statement = statement.where(AuditEntry.at >= _local_midnight(query.since))
    if query.until:
        statement = statement.where(AuditEntry.at < _local_midnight(query.until + timedelta(days=1)))
    return statement


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_ZONE)


def search(user: User, query: AuditQuery) -> AuditPage:
    """Return one page of the entries the filters select, newest first."""
    access.require_role(user, Role.ADMIN)
    statement = _filtered(query)
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    # By time, as shown (the id breaks ties): an index on the filter and the time serves the page and stops.
    page = statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(PER_PAGE) \
        .offset((query.page - 1) * PER_PAGE)
    return AuditPage(query, list(db.session.scalars(page)), total)


def actions() -> list[str]:
    """Every action recorded so far, for the page's filter."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def export_csv(user: User, query: AuditQuery) -> Iterator[str]:
    """Yield the CSV of every entry the filters select, oldest first, a few hundred rows at a time."""
    access.require_role(user, Role.ADMIN)
    buffer = StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    statement = _filtered(query).order_by(AuditEntry.at, AuditEntry.id).execution_options(yield_per=500)
    for count, entry in enumerate(db.session.scalars(statement), 1):
        writer.writerow(_cells(entry))
        if count % 500 == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _cells(entry: AuditEntry) -> list:
    detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else ""
    values = [entry.id, entry.at.astimezone(LOCAL_ZONE).isoformat(timespec="seconds"),
              entry.at.isoformat(timespec="seconds"), entry.actor, entry.user_id, entry.address, entry.action,
              entry.target, entry.ward_id, detail]
    return [inert(value) for value in values]


def inert(value):
    """A text a spreadsheet would run as a formula (a title typed as "=HYPERLINK(…)") is quoted, and stays text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
