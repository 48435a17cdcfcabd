"""Read back the text of a PDF that fpdf2 wrote with an embedded TrueType subset (no PDF library needed)."""

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
SHOWN = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", re.S)
CHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]{4,8})>")


def _streams(pdf: bytes) -> list[bytes]:
    found = []
    for match in STREAM.finditer(pdf):
        try:
            found.append(zlib.decompress(match.group(1)))
        except zlib.error:
            found.append(match.group(1))
    return found


def _unescape(literal: bytes) -> bytes:
    return re.sub(rb"\\(.)", lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)), literal,
                  flags=re.S)


def pdf_text(pdf: bytes) -> str:
    """The text every Tj shows, through the subset's ToUnicode map (two bytes a glyph), one line per Tj."""
    streams = _streams(pdf)
    glyphs = {}
    for stream in streams:
        if b"beginbfchar" in stream:
            glyphs.update({int(code, 16): chr(int(char, 16)) for code, char in CHAR.findall(stream)})
    lines = []
    for stream in streams:
        for literal in SHOWN.findall(stream):
            raw = _unescape(literal)
            lines.append("".join(glyphs.get(int.from_bytes(raw[i:i + 2]), "?") for i in range(0, len(raw) - 1, 2)))
    return "\n".join(lines)
