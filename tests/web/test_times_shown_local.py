"""Every time a template shows goes through the `local` filter (web/formatting.py): dd/mm/yyyy, 24-hour, Vietnam.

A time printed as it is would show UTC in Python's ISO form; tests/browser/test_dates.py looks at the pages, this
test at every template, including the branches the browser's pages do not reach.
"""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "pa_controller" / "web" / "templates"
TIME = re.compile(r"\b\w*_at\b|\.at\b")  # the models name their times `…_at` (Delivery's is `at`)
# Expressions that name a time but print no datetime: a form's own local value, a length of time.
NOT_A_MOMENT = re.compile(r"form\.get\(|duration\(")


def times_printed_raw(source: str) -> list[str]:
    return [expression for expression in re.findall(r"{{(.*?)}}", source, re.S)
            if TIME.search(expression) and "|local" not in expression.replace(" ", "")
            and not NOT_A_MOMENT.search(expression)]


def test_the_check_finds_a_time_printed_raw():
    assert times_printed_raw("{{ run.start_at }} {{ run.start_at|local }} {{ d.at }} {{ form.get('start_at') }}") == [
        " run.start_at ", " d.at "]


def test_every_template_shows_times_through_the_local_filter():
    raw = [f"{path.name}: {{{{{expression}}}}}" for path in sorted(TEMPLATES.glob("*.html"))
           for expression in times_printed_raw(path.read_text(encoding="utf-8"))]
    assert not raw, "times printed without |local (UTC, ISO):\n" + "\n".join(raw)


def test_no_template_formats_a_time_itself():
    formatting = [path.name for path in TEMPLATES.glob("*.html")
                  if re.search(r"strftime|isoformat", path.read_text(encoding="utf-8"))]
    assert not formatting, f"format times with the `local` filter, not by hand: {formatting}"
