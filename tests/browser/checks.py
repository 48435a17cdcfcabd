"""What the browser tests ask a page: does it scroll sideways, has every control a name, what text does it show."""

# The elements wider than the window, named so a failure says where to look.
TOO_WIDE = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  return [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "")
              + " right=" + Math.round(e.getBoundingClientRect().right)).slice(0, 8);
}"""

# The form controls a screen reader cannot name (no label, aria-label, aria-labelledby, title, text or value).
UNNAMED_CONTROLS = """() => {
  const named = e => {
    if ((e.getAttribute("aria-label") || "").trim()) return true;
    const by = e.getAttribute("aria-labelledby");
    if (by && by.split(/\\s+/).some(id => (document.getElementById(id)?.textContent || "").trim())) return true;
    if ([...(e.labels || [])].some(l => l.textContent.trim())) return true;
    if ((e.getAttribute("title") || "").trim()) return true;
    if (e.tagName === "BUTTON") return e.textContent.trim() !== "";
    if (["submit", "button", "reset"].includes(e.type)) return (e.value || "").trim() !== "";
    return false;
  };
  return [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
    .filter(e => !named(e)).map(e => e.outerHTML.slice(0, 160));
}"""

# The visible text and the text a person meets in attributes, but for what is marked as data in another language,
# and the map's dot tooltips: "om-tho-001 · Khu vực 1, cụm 001 · Trực tuyến" is a name and a status label in one SVG
# <title>, which cannot hold a span; the labels are checked by the catalogue test (tests/test_translations.py).
SHOWN_TEXT = """() => {
  const lang = document.documentElement.lang;
  const ours = e => (e.closest("[lang]")?.getAttribute("lang") || lang) === lang;
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent.closest("script, style, template, svg title") || !ours(parent)) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  document.querySelectorAll("[placeholder], [aria-label], [title], [alt], input[type=submit], input[type=button]")
    .forEach(e => {
      if (!ours(e)) return;
      for (const name of ["placeholder", "aria-label", "title", "alt"])
        if (e.getAttribute(name)) texts.push(e.getAttribute(name));
      if (e.tagName === "INPUT" && e.value) texts.push(e.value);
    });
  return texts;
}"""
