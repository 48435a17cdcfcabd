"""English is a whole translation: a page in English shows no Vietnamese but data, and the switch works everywhere.

Vietnamese is the source language; data (ward and cluster names, titles people typed) stays as written and is
marked `lang="vi"` in the templates, which is what lets this test tell it from an untranslated label.
"""

import re

import pytest

from tests.browser.checks import SHOWN_TEXT
from tests.browser.conftest import ROLES

# A letter only Vietnamese uses among the two languages: đ, or a vowel with a tone or a hat, horn or breve.
VIETNAMESE = re.compile(r"[^\W\d_]*[đĐà-ãè-êì-íò-õù-úýăĩũơưạ-ỹÀ-ÃÈ-ÊÌ-ÍÒ-ÕÙ-ÚÝĂĨŨƠƯ][^\W\d_]*")


def vietnamese_words(texts: list[str]) -> list[str]:
    return sorted({word for text in texts for word in VIETNAMESE.findall(text)})


def test_the_word_finder_knows_vietnamese_from_english():
    found = vietnamese_words(["Đăng xuất (admin)", "Sign out", "Thới Hòa: 58 clusters"])
    assert found == ["Hòa", "Thới", "xuất", "Đăng"]


@pytest.mark.parametrize("role", ROLES)
def test_a_page_in_english_shows_no_vietnamese_but_data(site, open_tab, role):
    tab = open_tab(role, language="en")
    found = {}
    for path in site.pages():
        if tab.open(path).status == 200 and (words := vietnamese_words(tab.page.evaluate(SHOWN_TEXT))):
            found[path] = words
    assert not found, "Vietnamese on English pages (translate it, or mark data lang=\"vi\"):\n" + "\n".join(
        f"{path}: {' '.join(words)}" for path, words in found.items())


def test_the_language_switch_works_from_every_page(site, open_tab):
    tab = open_tab("admin")
    for path in site.pages():
        tab.open(path)
        assert tab.page.locator("html").get_attribute("lang") == "vi", path
        tab.page.get_by_role("link", name="English").click()
        assert (tab.page.url, tab.page.locator("html").get_attribute("lang")) == (site.base_url + path, "en")
        tab.page.get_by_role("link", name="Tiếng Việt").click()
        assert (tab.page.url, tab.page.locator("html").get_attribute("lang")) == (site.base_url + path, "vi")
