"""Every page, for every role, fits a 360-px phone and a desktop, loads nothing from outside, and names its controls.

The pages come from the URL map (tests/browser/conftest.py: Site.pages), so a new page is checked without being
listed here.
"""

import pytest

from tests.browser.checks import TOO_WIDE, UNNAMED_CONTROLS
from tests.browser.conftest import DESKTOP, PHONE, ROLES, Tab


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_the_screen_and_names_its_controls(site, open_tab, role, viewport):
    tab = open_tab(role, viewport)
    failures = []
    for path in site.pages():
        response = tab.open(path)
        if response.status == 403:  # a page this role may not use: its refusal is a page too, checked once
            continue
        assert response.status == 200, f"{role} {path}: {response.status}"
        if too_wide := tab.page.evaluate(TOO_WIDE):
            failures.append(f"{path} scrolls sideways at {viewport['width']} px: {too_wide}")
        if unnamed := tab.page.evaluate(UNNAMED_CONTROLS):
            failures.append(f"{path} has controls without an accessible name: {unnamed}")
    assert not tab.foreign_requests(), f"requests left the site: {tab.foreign_requests()}"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_login_page_and_a_refusal_fit_the_screen(site, open_tab, viewport):
    signed_out = open_tab(None, viewport)
    assert signed_out.open("/login").status == 200
    assert signed_out.page.evaluate(TOO_WIDE) == []
    assert signed_out.page.evaluate(UNNAMED_CONTROLS) == []
    viewer = open_tab("viewer", viewport)
    assert viewer.open("/admin/users").status == 403
    assert viewer.page.evaluate(TOO_WIDE) == []
    assert not signed_out.foreign_requests() + viewer.foreign_requests()


@pytest.mark.parametrize("role", ["admin", "officer"])  # the longest menu, and the person most often on a phone
def test_on_a_phone_the_whole_menu_and_the_sign_out_button_are_on_screen(site, open_tab, role):
    tab = open_tab(role, PHONE, own_session=True)
    tab.open("/")
    header = tab.page.locator("header")
    controls = header.locator("nav a, .right a, .right button")
    assert controls.count() >= 6
    for i in range(controls.count()):
        box = controls.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], controls.nth(i).inner_text()
    tab.page.get_by_role("button", name="Đăng xuất").click()
    assert tab.page.url.endswith("/login")


def test_the_closed_network_check_sees_a_request_to_another_host(browser, site):
    # The CSP already stops a page from fetching elsewhere; with it bypassed, the check itself must see the request.
    context = browser.new_context(bypass_csp=True)
    try:
        tab = Tab(context, site.base_url, signed_in=False)
        context.route("https://cdn.example.com/**", lambda route: route.abort())
        tab.open("/login")
        tab.page.evaluate("fetch('https://cdn.example.com/font.woff2').catch(() => null)")
        assert tab.foreign_requests() == ["https://cdn.example.com/font.woff2"]
    finally:
        context.close()
