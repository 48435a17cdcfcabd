"""One place that turns errors into answers: the API's JSON shape under /api/, pages elsewhere."""

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from pa_controller.errors import ServiceError
from pa_controller.web.formatting import jsonable


def json_error(status: int, code: str, message: str, fields: dict | None = None, extra: dict | None = None):
    """Return the API's error answer (API.md, Conventions), with any details the error carries."""
    return jsonify({"error": {"code": code, "message": message, "fields": fields or {}, **(extra or {})}}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _service_error(exc: ServiceError):
    if _wants_json():
        return json_error(exc.status, exc.code, exc.message, exc.fields, jsonable(exc.extra))
    return render_template("error.html", message=exc.message), exc.status


def _http_error(exc: HTTPException):
    if _wants_json():
        return json_error(exc.code or 400, exc.name.lower().replace(" ", "_"), exc.description or exc.name)
    return exc


def _unexpected_error(exc: Exception):
    """Last resort: log it; under /api/ answer JSON rather than an HTML page."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    if _wants_json():
        return json_error(500, "internal", "something went wrong on our side; it has been logged, try again")
    return exc


def register_errors(app) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
