"""Fixtures: the app on real HTTP (one server per module), Debian's Chromium (one per session), pages per role."""

import os
import shutil
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from pa_controller import create_app
from pa_controller.extensions import db
from tests.browser.scene import PEOPLE, Scene, build_scene, serving, sign_in
from tests.support.settings import testing_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
ROLES = tuple(PEOPLE)
# GET routes that are not pages a person reads, and why each is left out of the page list.
NOT_PAGES = {
    "static": "files the pages load",
    "media.clip": "an MP3 the audio player streams",
    "audit.audit_csv": "a CSV download",
    "reports.airtime_csv": "a CSV download",
    "reports.airtime_pdf": "a PDF download",
    "broadcasts.count_targets": "JSON the broadcast form asks for as its targets change",
    "broadcasts.run_report_live": "JSON the run report asks for every 2 s",
    "calendar.ward_calendar": "an iCalendar feed for calendar programs",
    "pages.language": "a redirect back to the page; test_language.py clicks it from every page",
    "pages.login": "seen signed out by test_the_login_page_fits_a_phone",
}


def _chromium_or_skip() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = f"Chromium is not at {CHROMIUM}: run `make system` (installs Debian's chromium) to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`: the network is closed)."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@dataclass
class Site:
    base_url: str
    scene: Scene
    app: object
    logins: dict = field(default_factory=dict)  # (role, language) -> Playwright storage state

    def pages(self) -> list[str]:
        """Every page a person reads, from the URL map: GET routes, with the scene's objects for their ids."""
        found = []
        for rule in self.app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint in NOT_PAGES:
                continue
            unknown = rule.arguments - set(self.scene.known)
            assert not unknown, (f"{rule.rule} needs {sorted(unknown)}: add an object for it to Scene.known "
                                 "(tests/browser/scene.py), or a reason to leave it out to NOT_PAGES")
            found.append(rule.build({a: self.scene.known[a] for a in rule.arguments})[1])
        return sorted(found)


@pytest.fixture(scope="module")
def site(templates, tmp_path_factory):
    """The app on a fresh copy of the seeded SQLite template, with the scene, served over HTTP for the module."""
    workdir = tmp_path_factory.mktemp("site")
    url, remove = templates.copy("sqlite", True, workdir / "loanet.db")
    app = create_app(testing_settings(workdir / "instance", url))
    with app.app_context():
        scene = build_scene()
        db.session.remove()
    with serving(app) as base_url:
        yield Site(base_url, scene, app)
    with app.app_context():
        db.engine.dispose()
    remove()


class Tab:
    """One browser page of a signed-in person, which remembers every URL it requested."""

    def __init__(self, context, base_url: str, signed_in: bool):
        self.context, self.base_url, self.signed_in, self.requested = context, base_url, signed_in, []
        context.on("request", lambda request: self.requested.append(request.url))
        self.page = context.new_page()

    def open(self, path: str):
        """Go to a path of the site; return the response."""
        response = self.page.goto(self.base_url + path)
        assert not (self.signed_in and "/login" in self.page.url), f"{path}: signed out (a test ended the session?)"
        return response

    def foreign_requests(self) -> list[str]:
        """The URLs requested from any host but the test server (the network is closed: no CDN, no fonts)."""
        mine = urlsplit(self.base_url).netloc
        return [url for url in self.requested if urlsplit(url).scheme not in ("data", "blob", "about")
                and urlsplit(url).netloc != mine]


@pytest.fixture
def open_tab(browser, site):
    """Open a Tab signed in as one of PEOPLE (or nobody), at a viewport, in Vietnamese or English."""
    contexts = []

    def open_as(role: str | None, viewport: dict = DESKTOP, language: str = "vi", own_session: bool = False) -> Tab:
        state = None
        if role:  # a test that signs out needs a session of its own: the others share one per role and language
            state = sign_in(browser, site.base_url, role, language) if own_session else _signed_in(
                browser, site, role, language)
        context = browser.new_context(viewport=viewport, locale=language, storage_state=state)
        contexts.append(context)
        return Tab(context, site.base_url, signed_in=role is not None)

    yield open_as
    for context in contexts:
        context.close()


def _signed_in(browser, site: Site, role: str, language: str) -> dict:
    """Sign in once per role and language, and keep the cookies."""
    if (role, language) not in site.logins:
        site.logins[(role, language)] = sign_in(browser, site.base_url, role, language)
    return site.logins[(role, language)]
