"""RFC 5545 text for calendar feeds: escaping, line folding, CRLF. Nothing here knows the database."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

FOLD_AT = 75  # octets per line, RFC 5545 §3.1


@dataclass(frozen=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    categories: str = ""


def escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Split a content line into 75-octet pieces without cutting a UTF-8 character (Vietnamese has many)."""
    pieces, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > FOLD_AT:
            pieces.append(current)
            current, size = " ", 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n".join(pieces)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(name: str, events: Iterable[Event], now: datetime) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//LoaNet//Lich phat thanh//VI", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}", "X-WR-TIMEZONE:Asia/Ho_Chi_Minh"]
    for event in events:
        lines += ["BEGIN:VEVENT", f"UID:{event.uid}", f"DTSTAMP:{stamp(now)}", f"DTSTART:{stamp(event.start)}",
                  f"DTEND:{stamp(event.end)}", f"SUMMARY:{escape(event.summary)}"]
        if event.description:
            lines.append(f"DESCRIPTION:{escape(event.description)}")
        if event.categories:
            lines.append(f"CATEGORIES:{escape(event.categories)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
