"""One statement for a whole batch of rows, compiled once per process, the same on SQLite and PostgreSQL.

A statement is built once against `rows`, a selectable with one column per field of a row:
- PostgreSQL: `json_to_recordset` over one JSON parameter, so a batch is one statement and one round trip, with
  no per-value work in the driver;
- SQLite: a one-row SELECT of parameters, run by the driver's executemany (prepared once, stepped per row in C).
The rows go to the driver as they are: SQLAlchemy's per-row parameter handling cost more than the database's own
work. Rows must therefore hold what the driver takes as it is (str, int, float, bool, None); values shared by the
whole batch (a time) are parameters of their own, converted once per batch by their column type.
"""

import json
import operator
from collections.abc import Callable

from sqlalchemy import JSON, Table, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}  # each with its dialect's ON CONFLICT


class BulkStatement:
    """`build(rows, insert)` returns the statement; `insert` is the dialect's own (for an upsert).

    `columns` name the fields of a row, typed like the same-named columns of `table`; `shared` maps each
    batch-wide parameter to its type.
    """

    def __init__(self, table: Table, columns: tuple[str, ...], shared: dict, build: Callable):
        self.table, self.columns, self.shared, self.build = table, columns, shared, build
        self._compiled: dict[tuple[str, str], tuple[str, Callable | None]] = {}

    def run(self, connection: Connection, rows: list[tuple], **shared) -> None:
        """Run the statement for `rows` (tuples in the order of `columns`) and the batch-wide values `shared`."""
        if not rows:
            return
        dialect = connection.dialect
        key = (dialect.name, dialect.driver)
        if key not in self._compiled:
            self._compiled[key] = self._compile(dialect)
        sql, layout = self._compiled[key]
        values = {}
        for name, type_ in self.shared.items():
            process = type_.dialect_impl(dialect).bind_processor(dialect)
            values[name] = process(shared[name]) if process else shared[name]
        if layout is None:
            batch = json.dumps([dict(zip(self.columns, row, strict=True)) for row in rows], separators=(",", ":"))
            connection.exec_driver_sql(sql, {"batch": batch, **values})
        else:
            tail = tuple(values[name] for name in self.shared)
            connection.exec_driver_sql(sql, [layout((*row, *tail)) for row in rows])

    def _compile(self, dialect) -> tuple[str, Callable | None]:
        """The SQL for this database, and how to lay out one row's parameters (None: the rows go as JSON)."""
        types = {name: self.table.c[name].type for name in self.columns}
        parameters = [bindparam(name, type_=type_) for name, type_ in self.shared.items()]
        if dialect.name == "postgresql":
            rows = func.json_to_recordset(cast(bindparam("batch"), JSON)).table_valued(
                *(column(name, type_) for name, type_ in types.items())).render_derived(name="batch", with_types=True)
            statement = self.build(rows, INSERTS[dialect.name], *parameters)
            return statement.compile(dialect=dialect).string, None
        rows = select(*(bindparam(name, type_=type_).label(name) for name, type_ in types.items())).subquery("batch")
        compiled = self.build(rows, INSERTS[dialect.name], *parameters).compile(dialect=dialect)
        if not compiled.positional:
            raise RuntimeError(f"{dialect.name}: expected positional parameters for executemany")
        order = (*self.columns, *self.shared)
        return compiled.string, operator.itemgetter(*(order.index(name) for name in compiled.positiontup))
