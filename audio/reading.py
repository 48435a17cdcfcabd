"""Write a Vietnamese announcement out the way it is read aloud, so a speech synthesizer says it right.

Numbers, times ("17h30"), dates ("02/12/2026"), units ("5 km", "1.500.000đ"), phone numbers (digit by digit),
weekdays ("thứ 2") and the abbreviations of ward notices ("UBND") become words. The rules run in order, each on
what the one before left, so a date is taken before its digits could be read as a plain number.
"""

import re
import unicodedata

from num2words import num2words

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
SCALES = ("", "nghìn", "triệu")
BILLION = 10**9
# Longer runs of digits are codes or account numbers, not amounts: read them digit by digit.
LONGEST_AMOUNT = 15

# Printed the way ward notices print them; the seed article spells Đ with the look-alike Ð (U+00D0).
ABBREVIATIONS = {
    "UBND": "ủy ban nhân dân",
    "HĐND": "hội đồng nhân dân",
    "MTTQ": "mặt trận tổ quốc",
    "TTHC": "thủ tục hành chính",
    "CĐS": "chuyển đổi số",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "PCCC": "phòng cháy chữa cháy",
    "CSGT": "cảnh sát giao thông",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "TP.": "thành phố",
    "SĐT": "số điện thoại",
    "ĐT": "điện thoại",
}
# Longest first, so "km/h" is taken before "km" and "km" before "m".
UNITS = {
    "km/h": "ki lô mét trên giờ",
    "km²": "ki lô mét vuông", "km2": "ki lô mét vuông",
    "m²": "mét vuông", "m2": "mét vuông",
    "m³": "mét khối", "m3": "mét khối",
    "°C": "độ C", "ºC": "độ C",
    "VNĐ": "đồng", "VND": "đồng",
    "km": "ki lô mét", "mm": "mi li mét", "cm": "xen ti mét", "kg": "ki lô gam", "ha": "héc ta",
    "%": "phần trăm", "đ": "đồng", "m": "mét",
}
PHONE_WORDS = r"(?:số điện thoại|điện thoại|hotline|đường dây nóng|liên hệ số|gọi số|gọi)"

# A number as printed in Vietnamese: dots between thousands, a comma before the decimals.
NUMBER = r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?:,\d+)?(?![\d.])|(?<![\d.,])\d+(?:,\d+)?(?![\d])"
RANGE = r"\s*[-–]\s*"


def read_aloud(text: str) -> str:
    """Return `text` with every number, time, date, unit and known abbreviation written out in words."""
    text = unicodedata.normalize("NFC", text).replace("Ð", "Đ").replace("ð", "đ")
    for rule in RULES:
        text = rule(text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def number_words(n: int) -> str:
    """Read a whole number the Vietnamese way: 105 "một trăm lẻ năm", 2026 "hai nghìn không trăm hai mươi sáu"."""
    if n >= BILLION:
        billions, rest = divmod(n, BILLION)
        return f"{number_words(billions)} tỷ" + (f" {_after_larger(rest)}" if rest else "")
    if n < 1000:
        return _below_thousand(n)
    groups = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    words = []
    for scale in reversed(range(len(groups))):
        group = groups[scale]
        if not group:
            continue  # "hai triệu năm trăm": an empty thousand is not said
        said = _below_thousand(group) if not words else _inner_group(group)
        words.append(f"{said} {SCALES[scale]}".strip())
    return " ".join(words)


def digit_words(digits: str) -> str:
    """Read a string of digits one by one: "113" "một một ba"."""
    return " ".join(DIGITS[int(d)] for d in digits if d.isdigit())


def _below_thousand(n: int) -> str:
    # num2words says 24 "hai mươi bốn"; announcers say "hai mươi tư" (and 14 stays "mười bốn").
    return num2words(n, lang="vi").replace("mươi bốn", "mươi tư")


def _inner_group(group: int) -> str:
    """A group of three after a larger one: 1.050 "một nghìn không trăm năm mươi", 1.005 "… không trăm lẻ năm"."""
    if group >= 100:
        return _below_thousand(group)
    return "không trăm " + (f"lẻ {DIGITS[group]}" if group < 10 else _below_thousand(group))


def _after_larger(n: int) -> str:
    """What follows "tỷ": the rest, read as an inner group would be when it is short."""
    return _inner_group(n) if n < 1000 else number_words(n)


def amount(printed: str) -> str:
    """Read a number as printed ("1.500.000", "69,39", "2026") in words."""
    whole, _comma, decimals = printed.partition(",")
    digits = whole.replace(".", "")
    if len(digits) > LONGEST_AMOUNT:
        said = digit_words(digits)
    else:
        said = number_words(int(digits))
    if decimals:
        # 0,05 is "không phẩy không năm": leading zeros of the decimals are said one by one.
        zeros = len(decimals) - len(decimals.lstrip("0"))
        rest = decimals[zeros:]
        said += " phẩy " + " ".join([*(["không"] * zeros), *([number_words(int(rest))] if rest else [])])
    return said


def _month(m: int) -> str:
    return "tư" if m == 4 else number_words(m)


def _abbreviations(text: str) -> str:
    for short, long in ABBREVIATIONS.items():
        tail = "" if short.endswith(".") else r"(?!\w)"
        text = re.sub(rf"(?<!\w){re.escape(short)}{tail}", long, text)
    return text


def _phone(digits_printed: str) -> str:
    """Say a phone number digit by digit, pausing where it was printed with a space, dot or dash."""
    groups = [g for g in re.split(r"[ .\-]", digits_printed) if g]
    if len(groups) == 1 and len(groups[0]) >= 9:  # printed in one run: pause as people do, 4-3-3
        run = groups[0]
        groups = [run[:4], run[4:7], run[7:]]
    return ", ".join(digit_words(g) for g in groups)


def _phones(text: str) -> str:
    printed = r"\+?\d[\d .\-]*\d"
    text = re.sub(rf"({PHONE_WORDS}:?\s*)({printed})",
                  lambda m: m.group(1) + _phone(m.group(2).strip()), text, flags=re.IGNORECASE)

    def bare(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return _phone(m.group(0)) if 10 <= len(digits) <= 11 else m.group(0)

    # Without a word before it, only a number of 10–11 digits starting with 0 is a phone number (0292 3861 234).
    return re.sub(r"(?<![\d.,])0\d{2,3}(?:[ .\-]?\d{2,4}){2,3}(?![\d])", bare, text)


def _date(day: str, month: str, year: str | None) -> str | None:
    d, m = int(day), int(month)
    if not (1 <= d <= 31 and 1 <= m <= 12):
        return None
    said = f"ngày {number_words(d)} tháng {_month(m)}"
    return said + (f" năm {number_words(int(year))}" if year else "")


def _date_at(i: int) -> str:
    return rf"(?P<d{i}>\d{{1,2}})(?P<s{i}>[/-])(?P<m{i}>\d{{1,2}})(?:(?P=s{i})(?P<y{i}>\d{{4}}))?"


DATES = rf"(?<![\d/.,])(?P<word>ngày\s+)?{_date_at(1)}(?:{RANGE}(?:ngày\s+)?{_date_at(2)})?(?![\d/])"


def _dates(text: str) -> str:
    # "02/12", "02/12/2026", "ngày 2-12", "02/12 - 05/12"; "ngày" is said once, and a dash makes a date only after
    # "ngày" or before a year ("2-3 người" is a range of numbers).
    def replace(m: re.Match) -> str:
        if m["s1"] == "-" and not (m["word"] or m["y1"]):
            return m[0]
        first = _date(m["d1"], m["m1"], m["y1"])
        second = _date(m["d2"], m["m2"], m["y2"]) if m["d2"] else ""
        if first is None or second is None:
            return m[0]
        return first + (f" đến {second}" if second else "")

    text = re.sub(DATES, replace, text, flags=re.IGNORECASE)
    text = re.sub(r"(tháng)\s+(\d{1,2})/(\d{4})(?!\d)",
                  lambda m: f"{m[1]} {_month(int(m[2]))} năm {number_words(int(m[3]))}"
                  if 1 <= int(m[2]) <= 12 else m[0], text, flags=re.IGNORECASE)
    return re.sub(r"(tháng)\s+(\d{1,2})(?![\d/,.]\d)",
                  lambda m: f"{m[1]} {_month(int(m[2]))}" if 1 <= int(m[2]) <= 12 else m[0], text, flags=re.IGNORECASE)


def _clock(hour: str, minute: str | None) -> str | None:
    h, m = int(hour), int(minute or 0)
    if h > 24 or m > 59:
        return None
    return f"{number_words(h)} giờ" + (f" {number_words(m)} phút" if m else "")


def _times(text: str) -> str:
    # "17h30", "17h30'", "17:30", "5h", "17 giờ 30"; an "h" glued to a letter ("5 ha") is not an hour.
    one = r"(\d{1,2})\s*(?:h|giờ|:)\s*(?:(\d{2})(?:\s*(?:'|p(?!\w)|phút))?)?(?![\w:])"

    def replace(m: re.Match) -> str:
        first = _clock(m.group(1), m.group(2))
        second = _clock(m.group(3), m.group(4)) if m.group(3) else ""
        if first is None or second is None:
            return m.group(0)
        return first + (f" đến {second}" if second else "")

    return re.sub(rf"(?<![\d.,:]){one}(?:{RANGE}{one})?", replace, text)


def _weekdays(text: str) -> str:
    ordinal = {"1": "nhất", "4": "tư"}
    return re.sub(r"(thứ)\s+(\d)(?!\d)", lambda m: f"{m.group(1)} {ordinal.get(m.group(2)) or DIGITS[int(m.group(2))]}",
                  text, flags=re.IGNORECASE)


def _units(text: str) -> str:
    names = "|".join(re.escape(u) for u in UNITS)

    def replace(m: re.Match) -> str:
        low = amount(m.group(1)) + (f" đến {amount(m.group(2))}" if m.group(2) else "")
        return f"{low} {UNITS[m.group(3)]}"

    return re.sub(rf"({NUMBER})(?:{RANGE}({NUMBER}))?\s?({names})(?!\w)", replace, text)


def _ranges(text: str) -> str:
    return re.sub(rf"({NUMBER}){RANGE}({NUMBER})", lambda m: f"{amount(m.group(1))} đến {amount(m.group(2))}", text)


def _numbers(text: str) -> str:
    return re.sub(NUMBER, lambda m: amount(m.group(0)), text)


RULES = (_abbreviations, _phones, _dates, _times, _weekdays, _units, _ranges, _numbers)
