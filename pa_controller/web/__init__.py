"""HTML and JSON blueprints: thin layers that parse, call a service, render."""

from flask import Flask, g, has_request_context, request, session
from flask_babel import get_locale, refresh
from flask_babel import lazy_gettext as _
from flask_login import current_user

from pa_controller import settings
from pa_controller.errors import ServiceError
from pa_controller.extensions import csrf, login_manager
from pa_controller.services import audit


def select_locale() -> str:
    """Vietnamese first; English when chosen, or when the browser prefers it and nothing was chosen."""
    if not has_request_context():  # a command, the worker: Vietnamese
        return "vi"
    return session.get("lang") or request.accept_languages.best_match(["vi", "en"]) or "vi"


def register_web(app: Flask, babel) -> None:
    from pa_controller.web import (
        account,
        admin_users,
        api,
        api_approvals,
        api_fleet,
        api_groups,
        api_incidents,
        api_keys,
        api_reports,
        api_upward,
        approval_pages,
        audit_pages,
        broadcast_pages,
        calendar,
        calendar_page,
        group_pages,
        incidents,
        media,
        page_session,
        pages,
        report_pages,
    )
    from pa_controller.web.apidoc import init_api
    from pa_controller.web.errors import register_errors
    from pa_controller.web.formatting import register_filters
    from pa_controller.web.technician import bp as technician_bp

    babel.init_app(app, locale_selector=select_locale, default_timezone=settings.of(app).display_timezone)
    app.jinja_env.globals["get_locale"] = get_locale
    login_manager.login_view = "pages.login"
    login_manager.user_loader(page_session.load_user)
    login_manager.unauthorized_handler(page_session.log_in_first)
    apis = (api.bp, api_approvals.bp, api_fleet.bp, api_groups.bp, api_incidents.bp, api_keys.bp, api_reports.bp,
            api_upward.bp)
    init_api(app, apis)
    for blueprint in apis:
        csrf.exempt(blueprint)  # bearer tokens only: no cookie, nothing to forge
    app.register_blueprint(media.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(calendar_page.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(broadcast_pages.bp)
    app.register_blueprint(approval_pages.bp)
    app.register_blueprint(group_pages.bp)
    app.register_blueprint(technician_bp)
    app.register_blueprint(audit_pages.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin_users.bp)
    register_filters(app)
    app.before_request(refresh)  # the language is the request's, even where requests share an app context
    app.before_request(_refuse_nul)
    app.before_request(_name_the_actor)
    app.teardown_request(_forget_the_actor)
    app.after_request(_security_headers)
    register_errors(app)


def _name_the_actor() -> None:
    # A test's requests share one app context, so one `g`: what the last request found out (who it was, which
    # user Flask-Login loaded) must not stand for this one. In production each request has its own.
    for key in ("user", "token", "session_ended", "_login_user"):
        g.pop(key, None)
    g.audit_actor = audit.set_actor(_request_actor)


def _forget_the_actor(_error) -> None:
    """The request's actor ends with it: the thread's next work (another test, a command) is not this request."""
    if (token := g.pop("audit_actor", None)) is not None:
        audit.reset_actor(token)


def _request_actor() -> audit.Actor:
    """Who acts in this request: the API token's user, else the signed-in user, else nobody known."""
    user = g.get("user") or (current_user if current_user.is_authenticated else None)
    address = request.remote_addr
    return audit.Actor.of_user(user, address) if user is not None else audit.Actor("anonymous", None, address)


def _refuse_nul():
    """No text LoaNet stores may contain NUL (PostgreSQL cannot); refuse it at the door."""
    values = [request.path, *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += request.form.values()
    if any("\x00" in value for value in values):
        raise ServiceError(_("Yêu cầu có ký tự NUL; LoaNet không lưu được ký tự này."))


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # blob: media is what the audio page's own script made of a preview it fetched (static/speech.js).
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'",
    )
    return response
