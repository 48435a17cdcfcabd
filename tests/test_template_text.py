"""Every word a template shows goes through `_()`: its text and the attributes a person reads or hears.

tests/test_translations.py checks that every message has an English translation; a word written straight into a
template is no message, so only this test finds it. What is left is the template's own text between its `{{ }}` and
`{% %}`: a letter there is untranslated unless it is one of the few words below that are the same in both languages.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent.parent / "pa_controller" / "web" / "templates"
READ_ATTRIBUTES = ("placeholder", "aria-label", "title", "alt")
# Words the same in Vietnamese and English: the product's name, each language's own name on the switch (each marked
# with its `lang`), units (seconds, loudness), a URL's scheme as a placeholder, the calendar file's extension.
SAME_IN_BOTH = {"LoaNet", "Tiếng", "Việt", "English", "s", "LUFS", "https", "ics"}
EXPRESSION = "\x00"  # stands in for a `{{ … }}`, whose text is the code's business


def template_text(source: str) -> str:
    """The template's own HTML, with each `{{ … }}` as EXPRESSION and each `{% … %}` and comment removed."""
    parts, inside = [], None
    for _line, kind, value in Environment().lex(source):
        if kind == "data" and inside is None:
            parts.append(value)
        elif kind in ("variable_begin", "block_begin", "comment_begin"):
            inside = kind
            if kind == "variable_begin":
                parts.append(EXPRESSION)
        elif kind in ("variable_end", "block_end", "comment_end"):
            inside = None
    return "".join(parts)


class _Words(HTMLParser):
    """Collect the literal words of an HTML text, with where they are."""

    def __init__(self):
        super().__init__()
        self.found, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skipping += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self._check(f"<{tag} {name}>", value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self._check("text", data)

    def _check(self, where, text):
        for piece in text.split(EXPRESSION):
            if words := [w for w in re.findall(r"[^\W\d_]+", piece) if w not in SAME_IN_BOTH]:
                self.found.append(f"{where}: {' '.join(words)!r}")


def untranslated(source: str) -> list[str]:
    parser = _Words()
    parser.feed(template_text(source))
    parser.close()
    return parser.found


def test_the_scanner_finds_words_outside_messages():
    source = """<h1>{{ _('Tổng quan') }}</h1><p>Xin chào {{ user }}</p>{% if x %}<input placeholder="Tìm">{% endif %}
    <button aria-label="{{ _('Đóng') }}">×</button><a title="Close">{# a comment #}LoaNet</a><style>a{}</style>"""
    assert untranslated(source) == ["text: 'Xin chào'", "<input placeholder>: 'Tìm'", "<a title>: 'Close'"]


def test_no_template_shows_a_word_outside_a_message():
    found = [f"{path.name}: {word}" for path in sorted(TEMPLATES.glob("*.html"))
             for word in untranslated(path.read_text(encoding="utf-8"))]
    assert not found, "words not wrapped in _() (wrap them, so English readers get them):\n" + "\n".join(found)
