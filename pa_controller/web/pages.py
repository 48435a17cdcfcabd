"""The HTML pages for officers and technicians (Vietnamese first, English on request)."""


from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from pa_controller import clock, settings
from pa_controller.errors import ServiceError, TooManyRequests
from pa_controller.extensions import db
from pa_controller.services import access, audit, fleet, logins, media, reports, run_progress, sessions, silence, speech
from pa_controller.web import page_session
from pa_controller.web.api import spoken
from pa_controller.web.apidoc import load
from pa_controller.web.calendar import feed_key
from pa_controller.web.schemas import requests as q
from pa_protocol import RunState

bp = Blueprint("pages", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    username = request.form.get("username", "")
    try:
        user, secret = logins.sign_in(username, request.form.get("password", ""), request.remote_addr,
                                          request.user_agent.string)
    except ServiceError as exc:  # a wrong password (401), or too many of them (429)
        flash(exc.message, "error")
        response = make_response(render_template("login.html", username=username), exc.status)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    session.clear()  # a fresh session on login: nothing of the one before carries over
    session[page_session.SESSION_KEY] = secret
    login_user(user)
    return redirect(page_session.safe_next(request.args.get("next")) or url_for("pages.dashboard"))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.record("logout", f"user:{current_user.username}")
    sessions.end(session.get(page_session.SESSION_KEY))
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("pages.login"))


@bp.get("/lang/<code>")
def language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    target = request.referrer or ""
    return redirect(target if target.startswith(request.host_url) else url_for("pages.dashboard"))


@bp.get("/")
@login_required
def dashboard():
    now, beat = clock.now(), settings.current().heartbeat_s
    wards = fleet.status_by_ward(access.ward_scope(current_user), now, beat)
    upcoming = reports.list_runs(current_user, limit=10, upcoming=True)
    recent = reports.list_runs(current_user, limit=10, upcoming=False)
    done = {r.id: run_progress.progress(current_user, r.id) for r in recent}  # counted in SQL, not row by row
    missed = reports.list_runs(current_user, limit=20, state=RunState.MISSED)
    feeds = {ward.id: url_for("calendar.ward_calendar", ward_id=ward.id, key=feed_key(current_user, ward.id),
                              _external=True) for ward, _statuses, _total in wards}
    return render_template("dashboard.html", wards=wards, upcoming=upcoming, recent=recent, reports=done,
                           missed=missed, feeds=feeds)


@bp.post("/stop-all")
@login_required
def stop_all():
    order = silence.stop_all(current_user, request.form.get("reason", ""))
    flash(_("Đã ra lệnh dừng phát tới %(n)s cụm loa.", n=order.clusters), "ok")
    return redirect(url_for("pages.dashboard"))


@bp.route("/audio", methods=["GET", "POST"])
@login_required
def audio_library():
    if request.method == "POST":
        access.require_role(current_user, *access.SCHEDULERS)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Hãy chọn một tệp âm thanh."), "error")
        else:
            try:
                clip = media.ingest(current_user, upload.stream, upload.filename, request.form.get("title", ""),
                                    request.form.get("ward") or None)
                flash(_("Đã tải lên “%(title)s”.", title=clip.title), "ok")
            except ServiceError as exc:
                flash(_("Không nhận tệp: %(reason)s", reason=exc.message), "error")
        return redirect(url_for("pages.audio_library"))
    return _library()


@bp.post("/audio/speech")
@login_required
def speech_save():
    """Compose by text: store the text read aloud as a clip; a refusal shows the page again with the text kept."""
    access.require_role(current_user, *access.SCHEDULERS)
    try:
        body = load(q.SpeechRequest(), _filled(request.form, "text", "title", "speed", "ward"))
        clip = speech.create(current_user, body["text"], body.get("title", ""), body["speed"],
                             body.get("ward") or None)
    except ServiceError as exc:
        flash(_("Chưa lưu được bản tin: %(reason)s", reason=exc.message), "error")
        return _library(speech_form=request.form), exc.status
    flash(_("Đã lưu “%(title)s” vào thư viện; có thể chọn nó khi lên lịch phát.", title=clip.title), "ok")
    return redirect(url_for("pages.audio_library"))


@bp.post("/audio/speech/preview")
@login_required
def speech_preview():
    """Hear the text read aloud as it would be stored; the page's script plays it, without one the browser does."""
    access.require_role(current_user, *access.SCHEDULERS)
    try:
        body = load(q.SpeechPreview(), _filled(request.form, "text", "speed"))
        return spoken(speech.preview(current_user, body["text"], body["speed"]), speech.reading(body["text"]))
    except ServiceError as exc:  # the script shows this text beside the button
        return exc.message, exc.status, {"Content-Type": "text/plain; charset=utf-8"}


def _filled(form, *names: str) -> dict:
    """The form's fields as the API's schema reads them: an empty field is one not sent."""
    return {name: form[name] for name in names if form.get(name)}


def _library(**extra):
    scope = access.ward_scope(current_user)
    return render_template("audio.html", clips=media.library(current_user),
                           programmes=media.library(current_user, composed=True),
                           wards=fleet.wards_for(scope), whole_district=scope is None,
                           ward_names={w.id: w.name for w in fleet.wards_for(None)}, speeds=speech.Speed,
                           max_text=speech.MAX_TEXT, read_example=speech.reading("17h30"),
                           speech_form=extra.get("speech_form", {}))
