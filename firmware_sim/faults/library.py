"""Where scenarios come from: the library in firmware_sim/scenarios/, a TOML file, or --fault flags."""

import tomllib
from pathlib import Path

from firmware_sim.faults.spec import Fault, Scenario, ScenarioError, fault_from_table, scenario_from_document

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
FLAG_SYNTAX = "KIND[:FIELD=VALUE,...], e.g. dead_amplifier:share=0.1 or offline:clusters=om-cvl-001+om-cvl-002,at=30"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Return a library scenario by name (`power-cut-thoi-hoa`) or the scenario in a TOML file."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or "/" in text):
        path = LIBRARY / f"{text}.toml"
        if not path.exists():
            raise ScenarioError(text, f"is not a scenario of the library; choose one of {', '.join(library_names())} "
                                "or give the path of a .toml file")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot be read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), f"is not valid TOML: {exc}") from exc
    return scenario_from_document(document, str(path))


def library_names() -> list[str]:
    """Return the names of the library's scenarios, sorted."""
    return sorted(path.stem for path in LIBRARY.glob("*.toml"))


def library() -> list[Scenario]:
    """Return every scenario of the library, checked."""
    return [load_scenario(name) for name in library_names()]


def parse_fault_flag(text: str, index: int = 1) -> Fault:
    """Read one --fault flag: `KIND[:FIELD=VALUE,...]`.

    A value is a number, `LOW..HIGH` (a range each cluster draws from), `A+B+C` (a list of cluster
    ids, for `clusters`), or text.
    """
    source = f"--fault {text!r}"
    kind, _, rest = text.partition(":")
    table: dict = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise ScenarioError(source, f"{item!r} must be FIELD=VALUE; the syntax is {FLAG_SYNTAX}", index, kind)
        name = name.strip()
        table[name] = value.strip().split("+") if name == "clusters" else _flag_value(value.strip())
    return fault_from_table(table, index, source)


def _flag_value(text: str):
    low, dots, high = text.partition("..")
    if dots and _is_number(low) and _is_number(high):
        return [_number(low), _number(high)]
    return _number(text) if _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def combine(scenario: Scenario | str | Path | None, flags: list[str | Fault]) -> Scenario | None:
    """Return the scenario (loaded if named) with the faults of --fault flags after its own, or None if neither."""
    if isinstance(scenario, str | Path):
        scenario = load_scenario(scenario)
    if not flags:
        return scenario
    faults = [parse_fault_flag(f, n) if isinstance(f, str) else f for n, f in enumerate(flags, start=1)]
    base = scenario or Scenario("--fault", {"vi": "lỗi từ dòng lệnh", "en": "faults from the command line"},
                                source="--fault")
    return base.with_faults(faults)
