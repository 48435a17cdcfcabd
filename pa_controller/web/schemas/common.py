"""What every schema shares: the error shape of API.md, and fields whose messages are Vietnamese first."""

import marshmallow as ma
from flask_babel import lazy_gettext as _
from marshmallow import validate

from pa_controller.web import local_dates

REQUIRED = _("Trường này là bắt buộc.")
NOT_NULL = _("Trường này không được để trống (null).")
UNKNOWN = _("LoaNet không nhận trường này.")
NOT_AN_OBJECT = _("Nội dung yêu cầu phải là một đối tượng JSON (Content-Type: application/json).")
NUL = _("Không được có ký tự NUL.")
TRUE_OR_FALSE = _("Phải là true hoặc false.")
BASE = {"required": REQUIRED, "null": NOT_NULL}


class ErrorSchema(ma.Schema):
    """API.md: `{"error": {"code", "message", "fields"}}`."""

    class Detail(ma.Schema):
        code = ma.fields.String(required=True, metadata={"description": "a short machine word: invalid, conflict…"})
        message = ma.fields.String(required=True, metadata={"description": "what a person can do about it"})
        fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                metadata={"description": "a message for each field at fault"})
        # what some errors carry in detail (services.broadcasts, services.fleet_admin)
        conflicts = ma.fields.List(ma.fields.Dict(), metadata={"description": "409: the runs it overlaps"})
        violations = ma.fields.List(ma.fields.Dict(), metadata={"description": "422 guardrail: the rules it breaks"})
        errors = ma.fields.List(ma.fields.String(), metadata={"description": "a fleet import: its bad rows"})
        required_scope = ma.fields.String(metadata={"description": "403 insufficient_scope: the scope it needs"})
        token_scopes = ma.fields.List(ma.fields.String(), metadata={
            "description": "403 insufficient_scope: the scopes the token has (within its user's role)"})
        expired_at = ma.fields.String(metadata={"description": "401 token_expired: when the token expired"})

    error = ma.fields.Nested(Detail, required=True)


class RequestSchema(ma.Schema):
    """A request's query string or body: unknown fields are refused, every message is translated."""

    error_messages = {"unknown": UNKNOWN, "type": NOT_AN_OBJECT}

    class Meta:
        unknown = ma.RAISE


class QuerySchema(RequestSchema):
    """A query string: parameters LoaNet does not know are ignored, as they always were."""

    class Meta:
        unknown = ma.EXCLUDE


def no_nul(value: str) -> None:
    if "\x00" in value:
        _raise(NUL)


def text(low: int = 0, high: int = 500, message=None, *, check=None, **kwargs) -> ma.fields.String:
    """A string of `low` to `high` characters (spaces around not counted), without NUL, that `check` accepts."""
    message = message or _("Hãy ghi từ %(low)s đến %(high)s ký tự.", low=low, high=high)
    checks = [no_nul, validate.Length(min=low, max=high, error=message), *([check] if check else [])]
    if low:
        checks.append(lambda value: len(value.strip()) >= low or _raise(message))
    kwargs["metadata"] = {"pattern": text_pattern(low), **kwargs.get("metadata", {})}
    return ma.fields.String(validate=checks, error_messages={
        **BASE, "invalid": message if low else _("Phải là một chuỗi ký tự."), **({"required": message} if low else {})},
        **kwargs)


# what str.strip() strips, spelled out: a pattern's \s differs between Python and ECMA-262 (\x1c-\x1f, \ufeff)
SPACE = "".join(f"\\u{ord(c):04x}" if not c.isprintable() or c == " " else c
                for c in map(chr, range(0x3001)) if c.isspace())


def text_pattern(low: int) -> str:
    """What `text` checks beyond the length, for the document: no NUL, and `low` characters once stripped."""
    if not low:
        return r"^[^\x00]*$"
    inner = "" if low == 1 else rf"[^\x00]{{{low - 2},}}[^{SPACE}\x00]"
    return rf"^[{SPACE}]*[^{SPACE}\x00]{inner}[^\x00]*$"


def whole(low: int, high: int, *, strict: bool = True, message=None, **kwargs) -> ma.fields.Integer:
    """An integer from `low` to `high`; true and false are not numbers (`strict=False`: digits in a query string)."""
    message = message or _("Phải là một số nguyên từ %(low)s đến %(high)s.", low=low, high=high)
    return ma.fields.Integer(strict=strict, validate=validate.Range(low, high, error=message),
                             error_messages={**BASE, "invalid": message, "too_large": message}, **kwargs)


class StrictFloat(ma.fields.Float):
    """A JSON number, not a string of digits."""

    def _validated(self, value):
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class JsonNumber(StrictFloat):
    """A JSON number kept as sent: 1 stays 1, 1.5 stays 1.5."""

    def _validated(self, value):
        number = super()._validated(value)
        return value if isinstance(value, int) else number


def number(name: str, low: float, high: float, *, as_sent: bool = False, **kwargs) -> ma.fields.Float:
    """A number (whole or not) from `low` to `high`; as a float, or (`as_sent`) as the JSON had it."""
    message = _("%(key)s phải là một số từ %(low)s đến %(high)s.", key=name, low=low, high=high)
    return (JsonNumber if as_sent else StrictFloat)(validate=validate.Range(low, high, error=message),
                       error_messages={**BASE, "invalid": message, "special": message}, **kwargs)


def flag(**kwargs) -> ma.fields.Boolean:
    """true or false (in a query string also 1 and 0, yes and no)."""
    return ma.fields.Boolean(truthy={True, "true", "1", "yes"}, falsy={False, "false", "0", "no"},
                             error_messages={**BASE, "invalid": TRUE_OR_FALSE}, **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """JSON true or false, not 1, 0 or "yes"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def switch(**kwargs) -> StrictBoolean:
    """true or false in a JSON body."""
    return StrictBoolean(error_messages={**BASE, "invalid": TRUE_OR_FALSE}, **kwargs)


def choice(enum, members=None, message=None, **kwargs) -> ma.fields.Enum:
    """One of an enum's values (or of some of its members): the enum is the one source of the words."""
    allowed = list(members or enum)
    message = message or _("Phải là một trong: %(values)s.", values=", ".join(m.value for m in allowed))
    checks = [validate.OneOf(allowed, error=message)] if members else []
    return ma.fields.Enum(enum, by_value=True, validate=checks, error_messages={**BASE, "unknown": message},
                          **kwargs)


def moment(**kwargs) -> ma.fields.String:
    """An RFC 3339 time; without an offset it is Asia/Ho_Chi_Minh (read by the service)."""
    return text(1, 64, **{"metadata": {"format": "date-time"}, **kwargs})


ISO_DAY = _("Ngày viết dạng YYYY-MM-DD.")
LOCAL_DAY = _("Ngày viết dạng ngày/tháng/năm, ví dụ 31/12/2026.")
ISO_MONTH = _("Tháng viết dạng YYYY-MM, ví dụ 2026-12.")
LOCAL_MONTH = _("Tháng viết dạng tháng/năm, ví dụ 12/2026.")
MONTH_YEARS = range(2000, 2100)  # a report's months: what its pager offers


class Day(ma.fields.Date):
    """A calendar day, YYYY-MM-DD; `local`: a page's field, also dd/mm/yyyy as the officer types it."""

    def __init__(self, *, local: bool = False, **kwargs):
        self.local = local
        super().__init__(error_messages={**BASE, "invalid": LOCAL_DAY if local else ISO_DAY}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not self.local:
            return super()._deserialize(value, attr, data, **kwargs)
        try:
            return local_dates.parse_day(value)
        except ValueError:
            raise self.make_error("invalid") from None


class Month(ma.fields.String):
    """A month, YYYY-MM, read as that text (empty: none given); `local`: a page's field, also mm/yyyy."""

    def __init__(self, *, local: bool = False, **kwargs):
        self.local = local
        super().__init__(error_messages={**BASE, "invalid": LOCAL_MONTH if local else ISO_MONTH}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            return None
        try:
            year, month = local_dates.parse_month(text)
        except ValueError:
            raise self.make_error("invalid") from None
        if year not in MONTH_YEARS or (not self.local and text != f"{year:04d}-{month:02d}"):
            raise self.make_error("invalid")
        return f"{year:04d}-{month:02d}"


def _raise(message):
    raise ma.ValidationError([message])  # in a list: marshmallow would take a lazy string for a list of letters
