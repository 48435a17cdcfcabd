"""A scenario and its faults as written: checked field by field, so a mistake is named before anything starts."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pa_protocol as protocol
from firmware_sim.faults.kinds import KINDS, REQUIRED, FaultKind, number, whole

SELECTION = ("clusters", "ward", "share", "count", "group", "spread")
TIMING = ("at", "duration")


@dataclass(frozen=True)
class FleetOption:
    """A setting of the whole fleet that a scenario's [fleet] table may give: its default and its check."""

    default: float | int
    check: Callable[[Any], str | None]


FLEET_OPTIONS = {
    "heartbeat_s": FleetOption(30.0, number(above=0)),
    "keepalive": FleetOption(30, whole(1)),
    "connect_rate": FleetOption(200.0, number(0.0)),
    "reconnect_min_s": FleetOption(1.0, number(above=0)),
}


class ScenarioError(ValueError):
    """A scenario that cannot run; names the file, the fault (number and kind) and the field."""

    def __init__(self, source: str, problem: str, index: int | None = None, kind: str | None = None,
                 field_name: str | None = None):
        self.source, self.index, self.kind, self.field = source, index, kind, field_name
        where = source
        if index is not None:
            where += f": fault {index}" + (f" ({kind})" if kind else "")
        if field_name is not None:
            where += f": field {field_name!r}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Fault:
    """One fault as the scenario states it: what, on which clusters, from when, for how long.

    `index` counts from 1 in the scenario (then the --fault flags); it names the fault in errors and
    in the truth log. `params` holds every parameter of the kind, defaults filled in; a ranged one may
    be a `(low, high)` pair that each cluster draws from.
    """

    kind: str
    index: int
    params: dict = field(default_factory=dict)
    at: float = 0.0
    duration: float | None = None
    clusters: tuple[str, ...] = ()
    ward: str | None = None
    share: float | None = None
    count: int | None = None
    group: str | None = None
    spread: float = 0.0

    @property
    def selection(self) -> tuple:
        """Return what decides which clusters it takes (faults of one group must agree on it)."""
        return self.clusters, self.ward, self.share, self.count

    @property
    def catalogue(self) -> FaultKind:
        return KINDS[self.kind]


@dataclass(frozen=True)
class Scenario:
    """A named set of faults with a description in Vietnamese and English and optional fleet defaults."""

    name: str
    description: dict[str, str] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    fleet: dict[str, Any] = field(default_factory=dict)
    source: str = "<scenario>"

    def with_faults(self, extra: list[Fault]) -> "Scenario":
        """Return this scenario with more faults after its own, numbered on from its last."""
        renumbered = [replace(f, index=len(self.faults) + n) for n, f in enumerate(extra, start=1)]
        combined = Scenario(self.name, self.description, self.faults + tuple(renumbered), self.fleet, self.source)
        check_groups(combined.faults, self.source)
        return combined


def fault_from_table(table: Any, index: int, source: str) -> Fault:
    """Check one fault's fields (a TOML table or a parsed --fault flag) and return it."""
    if not isinstance(table, dict):
        raise ScenarioError(source, "must be a table of fields", index)
    kind_name = table.get("kind")
    if kind_name not in KINDS:
        raise ScenarioError(source, f"is {kind_name!r}; use one of {', '.join(KINDS)}", index, field_name="kind")
    kind = KINDS[kind_name]

    def fail(name: str, problem: str) -> ScenarioError:
        return ScenarioError(source, problem, index, kind.name, name)

    for name in table:
        if name != "kind" and name not in SELECTION and name not in TIMING and kind.param(name) is None:
            known = ", ".join((*SELECTION, *TIMING, *(p.name for p in kind.params)))
            raise fail(name, f"is not a field of {kind.name}; its fields are {known}")
    params = {param.name: _param_value(param, table, fail) for param in kind.params}
    selection = _selection(table, fail)
    at = _checked(table, "at", 0.0, number(0.0), fail)
    if "duration" in table and not kind.has_duration:
        raise fail("duration", f"does not apply to {kind.name}: its cycles make its periods")
    duration = _checked(table, "duration", kind.default_duration, number(above=0), fail)
    return Fault(kind.name, index, params, at, duration, **selection)


def _param_value(param, table: dict, fail) -> Any:
    if param.name not in table:
        if param.default is REQUIRED:
            raise fail(param.name, "is required")
        return param.default
    value = table[param.name]
    if param.ranged and isinstance(value, list | tuple):
        if len(value) != 2:
            raise fail(param.name, "as a range must be [low, high]")
        for end in value:
            if (problem := param.check(end)) is not None:
                raise fail(param.name, f"range ends {problem}")
        if value[0] > value[1]:
            raise fail(param.name, "range must be [low, high] with low <= high")
        return tuple(value)
    if (problem := param.check(value)) is not None:
        raise fail(param.name, problem)
    return value


def _checked(table: dict, name: str, default: Any, check, fail) -> Any:
    if name not in table:
        return default
    if (problem := check(table[name])) is not None:
        raise fail(name, problem)
    return table[name]


def _selection(table: dict, fail) -> dict:
    clusters = table.get("clusters", [])
    if not isinstance(clusters, list) or not all(isinstance(c, str) for c in clusters):
        raise fail("clusters", "must be a list of cluster ids")
    for cid in clusters:
        if not protocol.CID_PATTERN.match(cid):
            raise fail("clusters", f"{cid!r} is not a cluster id (1-32 characters of [a-z0-9-])")
    if clusters and any(k in table for k in ("ward", "share", "count")):
        raise fail("clusters", "names the clusters itself: drop ward, share and count")
    ward = table.get("ward")
    if ward is not None and (not isinstance(ward, str) or not ward):
        raise fail("ward", "must be a ward id such as thoi-hoa")
    if "share" in table and "count" in table:
        raise fail("count", "and share both choose how many: give one")
    share = _checked(table, "share", None, number(above=0, high=1), fail)
    count = _checked(table, "count", None, whole(1), fail)
    group = table.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise fail("group", "must be a name")
    spread = _checked(table, "spread", 0.0, number(0.0), fail)
    return {"clusters": tuple(clusters), "ward": ward, "share": share, "count": count, "group": group,
            "spread": spread}


def check_groups(faults: tuple[Fault, ...], source: str) -> None:
    """Refuse faults of one group that would choose their clusters differently."""
    first: dict[str, Fault] = {}
    for fault in faults:
        if fault.group is None:
            continue
        leader = first.setdefault(fault.group, fault)
        if leader.selection != fault.selection:
            raise ScenarioError(source, f"chooses clusters unlike fault {leader.index} of group {fault.group!r}: "
                                "give every fault of a group the same clusters, ward, share and count",
                                fault.index, fault.kind, "group")


def scenario_from_document(document: dict, source: str) -> Scenario:
    """Check a parsed scenario file and return it."""
    known = {"name", "description", "fleet", "faults"}
    for name in document:
        if name not in known:
            raise ScenarioError(source, f"is not a scenario field; use {', '.join(sorted(known))}", field_name=name)
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError(source, "is required: the scenario's name", field_name="name")
    description = document.get("description")
    if not isinstance(description, dict) or not all(isinstance(description.get(k), str) for k in ("vi", "en")):
        raise ScenarioError(source, "must give vi and en texts ([description] vi = \"…\", en = \"…\")",
                            field_name="description")
    fleet = document.get("fleet", {})
    if not isinstance(fleet, dict):
        raise ScenarioError(source, "must be a table", field_name="fleet")
    for option, value in fleet.items():
        known = FLEET_OPTIONS.get(option)
        if known is None:
            raise ScenarioError(source, f"may set only {', '.join(FLEET_OPTIONS)}", field_name=f"fleet.{option}")
        if (problem := known.check(value)) is not None:
            raise ScenarioError(source, problem, field_name=f"fleet.{option}")
    tables = document.get("faults", [])
    if not isinstance(tables, list):
        raise ScenarioError(source, "must be an array of tables ([[faults]])", field_name="faults")
    faults = tuple(fault_from_table(table, n, source) for n, table in enumerate(tables, start=1))
    check_groups(faults, source)
    return Scenario(name, dict(description), faults, dict(fleet), source)


def fleet_options(scenario: Scenario | None, **given) -> dict:
    """Return every fleet option: as given (None: not given), else the scenario's [fleet] value, else the default."""
    unknown = set(given) - set(FLEET_OPTIONS)
    if unknown:
        raise TypeError(f"not fleet options: {', '.join(sorted(unknown))}")
    table = scenario.fleet if scenario is not None else {}
    return {name: given[name] if given.get(name) is not None else table.get(name, option.default)
            for name, option in FLEET_OPTIONS.items()}
