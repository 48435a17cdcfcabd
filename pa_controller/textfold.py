"""Text compared the way Vietnamese people type it when searching: without diacritics and case.

"thoi hoa" finds "Thới Hòa", "CUM 7" finds "cụm 7", "dinh" finds "Đình". `fold` does it in Python; `folded(column)`
does the same in SQL: a function registered on each SQLite connection (extensions.py), `translate` on PostgreSQL
(which needs no extension and does not depend on the database's locale).
"""

import unicodedata

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "loanet_fold"


def fold(text: str) -> str:
    """Lower-case `text` and strip its diacritics (đ becomes d)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


_LOWER = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
_ACCENTED = _LOWER + _LOWER.upper()
_PLAIN = "".join(fold(c) for c in _ACCENTED)


class folded(FunctionElement):
    """SQL: a string column folded as `fold` folds text."""

    type = String()
    inherit_cache = True


@compiles(folded)
def _folded_postgresql(element, compiler, **kw):
    return f"lower(translate({compiler.process(element.clauses, **kw)}, '{_ACCENTED}', '{_PLAIN}'))"


@compiles(folded, "sqlite")
def _folded_sqlite(element, compiler, **kw):
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"
