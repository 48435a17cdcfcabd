"""One place that turns errors into answers: the API's JSON shape under /api/, pages elsewhere."""

from flask import current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from pa_controller.errors import ServiceError
from pa_controller.web.formatting import jsonable

HTTP_MESSAGES = {  # what a person reads for the HTTP errors Flask raises itself
    400: _("Yêu cầu không hợp lệ."),
    401: _("Hãy đăng nhập, hoặc gửi mã API (Authorization: Bearer …)."),
    403: _("Bạn không có quyền làm việc này."),
    404: _("Không tìm thấy trang hay mục này. Hãy kiểm tra lại đường dẫn."),
    405: _("Trang này không nhận kiểu yêu cầu đó."),
    413: _("Tệp gửi lên quá lớn."),
    429: _("Quá nhiều yêu cầu; hãy chờ một chút rồi thử lại."),
}
INTERNAL = _("Có lỗi phía máy chủ; lỗi đã được ghi lại, hãy thử lại.")
DATABASE_AWAY = _("Cơ sở dữ liệu tạm thời không trả lời (đang khởi động lại?). Chưa có gì được lưu: hãy thử lại "
                  "sau ít giây.")
RETRY_AFTER_S = 5  # a restarted database answers again within seconds


def json_error(status: int, code: str, message, fields: dict | None = None, extra: dict | None = None):
    """Return the API's error answer (API.md, Conventions), with any details the error carries."""
    fields = {name: str(value) for name, value in (fields or {}).items()}
    return jsonify({"error": {"code": code, "message": str(message), "fields": fields, **(extra or {})}}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _service_error(exc: ServiceError):
    if _wants_json():
        body, status = json_error(exc.status, exc.code, exc.message, exc.fields, jsonable(exc.extra))
    else:
        body, status = render_template("error.html", message=exc.message), exc.status
    return body, status, exc.headers


def _http_error(exc: HTTPException):
    status = exc.code or 400
    if status < 400:  # a routing redirect (a missing trailing slash) is not an error
        return exc
    message = HTTP_MESSAGES.get(status, exc.name)  # Werkzeug's own descriptions are English
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]  # e.g. Allow
    if _wants_json():
        body, status = json_error(status, exc.name.lower().replace(" ", "_"), message)
        return body, status, headers
    return render_template("error.html", message=message), status, headers


def _csrf_error(exc: CSRFError):
    """A form without its anti-forgery token, or one kept open past the session it was made for."""
    message = _("Biểu mẫu này thiếu mã chống giả mạo hoặc đã cũ (phiên đã đổi). Hãy tải lại trang rồi gửi lại.")
    return render_template("error.html", message=message), 400


def _database_away(exc: OperationalError | InterfaceError):
    """The database could not be reached or cut the connection (a restart, a failover, SQLite busy for too long):
    not the request's fault, and worth trying again. The transaction was rolled back, so nothing was saved."""
    current_app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                               str(exc.orig or exc).splitlines()[0])
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if _wants_json():
        body, status = json_error(503, "database_unavailable", DATABASE_AWAY)
        return body, status, headers
    return render_template("unavailable.html", message=DATABASE_AWAY), 503, headers


def _unexpected_error(exc: Exception):
    """Last resort: log it; under /api/ answer JSON rather than an HTML page."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    if _wants_json():
        return json_error(500, "internal", INTERNAL)
    return render_template("error.html", message=INTERNAL), 500


def register_errors(app) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_away)
    app.register_error_handler(InterfaceError, _database_away)
    app.register_error_handler(Exception, _unexpected_error)
