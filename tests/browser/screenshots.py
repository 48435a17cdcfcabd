"""Save PNGs of the main pages at desktop and phone width into docs/screenshots/ (`make screenshots`).

The app runs on a throwaway SQLite copy of the Ô Môn fleet with the browser tests' scene: an administrator at a
desk, a ward officer on a phone. Each picture is one viewport, not the whole page, to keep the files small.
"""

import logging
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from pa_controller import create_app
from pa_controller.extensions import db
from tests.browser.conftest import CHROMIUM, DESKTOP, PHONE
from tests.browser.scene import build_scene, serving, sign_in
from tests.conftest import Templates
from tests.support.settings import testing_settings

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SHOTS = {  # name -> the path, with the scene's objects by URL argument; who looks at it, if not the usual
    "dashboard": ("/", None),
    "compose-by-text": ("/audio", None),
    "broadcast-form": ("/broadcasts/new", None),
    "broadcasts": ("/broadcasts", None),
    "approvals": ("/approvals", "approver"),
    "calendar": ("/calendar", None),
    "run-report": ("/runs/{run_id}", None),
    "airtime": ("/reports/airtime", None),
    "fleet": ("/fleet", None),
    "map": ("/fleet/map", None),
    "incidents": ("/incidents", None),
}
WHO = (("desktop", "admin", DESKTOP), ("phone", "officer", PHONE))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        url, _ = Templates(Path(workdir)).copy("sqlite", True, Path(workdir) / "loanet.db")
        log = _quiet_logging()  # after the migrations, whose logging setup turns off the loggers made before it
        app = create_app(testing_settings(Path(workdir) / "instance", url))
        with app.app_context():
            scene = build_scene()
            db.session.remove()
        with serving(app) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            for width_name, usual, viewport in WHO:
                for role in (usual, *sorted({who for _path, who in SHOTS.values() if who and who != usual})):
                    context = browser.new_context(viewport=viewport, locale="vi",
                                                  storage_state=sign_in(browser, base_url, role, "vi"))
                    page = context.new_page()
                    for name, (path, who) in SHOTS.items():
                        if (who or usual) != role:
                            continue
                        page.goto(base_url + path.format(**scene.known))
                        target = OUT / f"{name}-{width_name}.png"
                        page.screenshot(path=target)
                        log.info("%s (%s)", target.relative_to(OUT.parents[1]), role)
                    context.close()
            browser.close()
        with app.app_context():
            db.engine.dispose()


def _quiet_logging() -> logging.Logger:
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    for noisy in ("werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("screenshots")


if __name__ == "__main__":
    main()
