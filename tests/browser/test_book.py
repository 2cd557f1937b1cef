"""The course website (``make book``), read as a learner reads it: opened from disk in headless
Chromium with every http(s) request blocked.

Every page loads with no failed request, its maths typeset and every image loaded; no page is wider
than a 390 px phone; search finds a term of notebook 07 and of the glossary; notebook pages open with
their link and "Before you run" box, keep reveal cells collapsed and show no untouched exercise
feedback. Screenshots of the front page, notebook 05 and the glossary go to ``build/browser/``.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.book import build
from tools.browser import failed_requests, raw_tex, wait_for
from tools.slides import SlidesError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
SHOTS = ROOT / "build" / "browser"
PHONE = (390, 844)

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sphinx", reason="the book extra is not installed (make test-browser installs it)")
    out = tmp_path_factory.mktemp("book")
    try:
        build(out)
    except SlidesError as err:
        pytest.skip(f"cannot vendor MathJax here: {err}")
    return out


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name not in ("genindex.html", "search.html", "index.html")
                  and "_static" not in p.parts)


def open_page(driver: Any, page: Path) -> None:
    """Load ``page`` and wait for MathJax, where the page has maths, to finish typesetting."""
    driver.get(page.resolve().as_uri())
    wait_for(driver, "document.readyState === 'complete'", 30, f"{page.name} to load")
    if driver.execute_script("return document.querySelector('script[src*=\"MathJax.js\"]') !== null"):
        wait_for(driver, "!!(window.MathJax && MathJax.Hub && MathJax.Hub.Queue)", 30, f"MathJax on {page.name}")
        driver.execute_script("window.__typeset_done = false; MathJax.Hub.Queue(function () { window.__typeset_done = true; });")
        wait_for(driver, "window.__typeset_done", 60, f"MathJax to typeset {page.name}")


def test_every_page_loads_offline_with_its_maths_and_images(site: Path, offline: Any) -> None:
    assert (site / "index.html").read_text(encoding="utf-8").count("README.html") >= 1
    checked = pages(site)
    assert {f"notebooks/{n}.html" for n in NOTEBOOKS} <= {p.relative_to(site).as_posix() for p in checked}
    for page in checked:
        name = page.relative_to(site).as_posix()
        open_page(offline, page)
        assert failed_requests(offline) == [], f"{name}: requests that failed offline"
        assert raw_tex(offline, 'article') == [], f"{name}: TeX left unrendered"
        broken = offline.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], f"{name}: images that did not load: {broken}"
        if name.startswith("notebooks/0") or name.startswith("notebooks/1"):
            assert offline.execute_script("return document.querySelectorAll('.MathJax_CHTML').length") > 0, (
                f"{name}: MathJax rendered nothing")
        if name in ("README.html", "notebooks/05_sampling.html", "docs/glossary.html"):
            offline.save_screenshot(str(SHOTS / f"book_{name.replace('/', '_').replace('.html', '')}.png"))


def test_notebook_pages_read_well_as_static_pages(site: Path, offline: Any) -> None:
    open_page(offline, site / "README.html")
    order = offline.execute_script(
        "return Array.from(document.querySelectorAll('.sidebar-tree a')).map(a => a.getAttribute('href'))")
    shown = [href.split("/")[-1].removesuffix(".html") for href in order if href.startswith("notebooks/0")
             or href.startswith("notebooks/1")]
    assert shown == NOTEBOOKS, "the sidebar lists the notebooks in course order"
    text = offline.execute_script("return document.querySelector('article').innerText")
    assert "make quest" in text and "make lab" in text and "01_linear_diffusion" in text, "front page: map, commands"
    for name in NOTEBOOKS:
        open_page(offline, site / "notebooks" / f"{name}.html")
        article = offline.execute_script("return document.querySelector('article').innerText")
        head = article[:2500]
        assert "Before you run." in head and "By the end of this notebook you can" in head, f"{name}: top of page"
        assert offline.execute_script(f"return document.querySelector('a.download[href$=\"{name}.ipynb\"]') !== null"), (
            f"{name}: no link to its notebook")
        assert "✏️" not in article, f"{name}: untouched exercise feedback on the page"
        assert offline.execute_script("return document.querySelectorAll('details.hide[open]').length") == 0, (
            f"{name}: a collapsed reveal cell is open")
    open_page(offline, site / "notebooks" / "05_sampling.html")
    assert offline.execute_script("return document.querySelectorAll('img[src$=\".gif\"]').length") == 1, (
        "notebook 05's animation is on its page")
    open_page(offline, site / "notebooks" / "07_fast_sampling.html")
    assert offline.execute_script("return document.querySelectorAll('details.hide').length") >= 1


@pytest.mark.parametrize(("term", "page"), [("inversion", "notebooks/07_fast_sampling.html"),
                                            ("notation", "docs/glossary.html")])
def test_search_finds_a_term_offline(site: Path, offline: Any, term: str, page: str) -> None:
    offline.get((site / "search.html").resolve().as_uri() + f"?q={term}")
    hits = wait_for(offline, "Array.from(document.querySelectorAll('#search-results li a')).map("
                             "a => a.getAttribute('href')).filter(h => h.length > 0)", 30, f"search results for {term!r}")
    assert any(h.split("#")[0].split("?")[0] == page for h in hits), f"searching {term!r} does not find {page}: {hits}"
    assert failed_requests(offline) == []


def test_no_page_is_wider_than_a_phone(site: Path, offline: Any) -> None:
    offline.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})
    try:
        wide = []
        for page in pages(site):
            offline.get(page.resolve().as_uri())
            wait_for(offline, "document.readyState === 'complete'", 30, f"{page.name} to load")
            width = offline.execute_script("return document.documentElement.scrollWidth")
            if width > PHONE[0]:
                wide.append(f"{page.relative_to(site)}: {width} px")
        offline.save_screenshot(str(SHOTS / "book_phone_last_page.png"))
    finally:
        offline.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert wide == [], f"pages wider than a {PHONE[0]} px phone: {wide}"
