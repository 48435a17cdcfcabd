"""The English catalogue translates every message the code and templates show, placeholders intact."""

from pathlib import Path

from babel.messages import checkers
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "pa_controller" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
METHODS = [("pa_controller/**.py", "python"), ("pa_controller/web/templates/**.html", "jinja2")]
# The code marks lazy messages as `_l` (and `lazy_gettext`): pybabel extract needs `-k _l -k lazy_gettext` too.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def _extracted() -> dict[str, str]:
    """Every msgid in the source (Vietnamese), with where it is first used."""
    found = {}
    for filename, _line, message, _comments, _context in extract_from_dir(ROOT, METHODS, keywords=KEYWORDS):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, filename)
    return found


def test_every_message_has_an_english_translation():
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po)
    missing = [f"{where}: {msgid}" for msgid, where in _extracted().items()
               if not (entry := catalogue.get(msgid)) or not entry.string or entry.fuzzy]
    assert not missing, f"{len(missing)} messages lack an English translation:\n" + "\n".join(missing[:40])


def test_translations_keep_their_placeholders():
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po)
    broken = []
    for message in catalogue:
        if message.id and message.string:
            try:
                checkers.python_format(catalogue, message)
            except Exception as exc:  # babel raises TranslationError with the mismatch
                broken.append(f"{message.id!r}: {exc}")
    assert not broken, "\n".join(broken)
