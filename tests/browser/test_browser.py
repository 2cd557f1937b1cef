"""What a reader and an instructor see, checked in a real browser (``make test-browser``).

Headless Chromium from Debian's packages, driven by Selenium through the system chromedriver:

- JupyterLab on 127.0.0.1 opens every committed notebook without marking it changed, and saving it
  unedited rewrites the same bytes (so ``git diff`` stays empty);
- before anything runs, every widget cell and the animation cell show a picture;
- notebook 02 runs top to bottom in smoke mode with no error, and moving its t slider redraws the
  picture;
- every slide deck from ``make slides`` opens from disk with no network, pages with the arrow keys,
  renders its maths, and has no slide taller or wider than reveal's 960x700 canvas.

Screenshots go to ``build/browser/``. Without a browser the tests skip and say what to install.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.browser import LabNotebook, jupyter_lab, measure_deck, wait_for
from tools.slides import CANVAS, SlidesError, build

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHOTS = ROOT / "build" / "browser"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch course folder: copies of the notebooks (JupyterLab may write them), the real data."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def lab(course_copy: Path) -> Iterator[str]:
    env = {"DDPM_COURSE_MODE": "smoke", "DDPM_COURSE_ROOT": str(course_copy), "TQDM_DISABLE": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    with jupyter_lab(course_copy, env=env, log=SHOTS / "jupyterlab.log") as url:
        yield url


def test_notebook_02_runs_in_smoke_mode_and_its_slider_redraws(driver: Any, lab: str) -> None:
    page = LabNotebook(driver, lab, "notebooks/02_forward_process.ipynb")
    page.run_all(timeout=300)
    assert page.errors() == []
    widget = next(i for i, outs in enumerate(page.outputs()) if any(WIDGET_VIEW in o.get("data", {}) for o in outs))
    node = page.cell_node(widget)
    picture = "const img = arguments[0].querySelector('.jp-OutputArea-output img'); return img && img.src;"
    before = driver.execute_script(picture, node)
    assert before, "the slider cell shows no picture after running"
    # The live slider renders once the widget manager has the kernel's model, which can come after the
    # picture; JupyterLab's windowed notebook may also re-create the cell's node, so look it up afresh.
    deadline = time.monotonic() + 60
    while (readout := driver.execute_script("return arguments[0].querySelector('.widget-readout')", node)) is None:
        assert time.monotonic() < deadline, "notebook 02's t slider never rendered after running"
        time.sleep(1)
        node = page.cell_node(widget)
    driver.execute_script("arguments[0].focus(); arguments[0].textContent = '600';", readout)
    readout.send_keys("\n")
    driver.save_screenshot(str(SHOTS / "02_slider_moved.png"))
    wait_for(driver, "arguments[0].querySelector('.jp-OutputArea-output img').src !== arguments[1]", 60,
             "moving the t slider to change the picture", node, before)
    driver.save_screenshot(str(SHOTS / "02_slider_redrawn.png"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_and_saving_an_unedited_notebook_changes_nothing(driver: Any, lab: str, course_copy: Path,
                                                               notebook: Path) -> None:
    copy = course_copy / "notebooks" / notebook.name
    page = LabNotebook(driver, lab, f"notebooks/{notebook.name}")
    time.sleep(2)  # let JupyterLab apply the kernel's info, as it does after opening
    assert not page.dirty, f"JupyterLab marks {notebook.name} changed on opening; run python -m tools.notebook_form"
    driver.save_screenshot(str(SHOTS / f"{notebook.stem}_opened.png"))
    # Every output that holds a widget is followed by a static picture of its first state.
    for index, outputs in enumerate(page.outputs()):
        if any(WIDGET_VIEW in o.get("data", {}) for o in outputs) or any(
                "image/gif" in o.get("data", {}) for o in outputs):
            node = page.cell_node(index)
            images = node.find_elements("css selector", ".jp-OutputArea-output img")
            assert images and all(img.get_attribute("naturalWidth") not in (None, "0") for img in images), (
                f"{notebook.name}: code cell {index} shows no picture before it runs")
            driver.save_screenshot(str(SHOTS / f"{notebook.stem}_cell{index}_unrun.png"))
    page.save()
    assert copy.read_bytes() == notebook.read_bytes(), f"saving {notebook.name} unedited rewrote it"


@pytest.fixture(scope="module")
def decks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("slides")
    cache = ROOT / "build" / "slides" / "vendor"
    if cache.is_dir():
        shutil.copytree(cache, out / "vendor")
    try:
        return build(NOTEBOOKS, out)
    except SlidesError as err:
        pytest.skip(f"cannot vendor reveal.js and MathJax here: {err}")


def test_every_slide_deck_paginates_offline_and_fits_the_canvas(driver: Any, decks: list[Path]) -> None:
    for deck in decks:
        report = measure_deck(driver, deck)
        assert report.reveal_ready, f"{deck.name}: reveal.js did not start"
        assert len(report.slides) > 1, f"{deck.name}: one long page instead of slides"
        # Each slide fits the canvas, has a heading, shows code at projector size and no object repr,
        # test marker or untouched exercise feedback.
        defects = [f"{s.index} {s.title!r}: {', '.join(s.defects())}" for s in report.slides if s.defects()]
        assert defects == [], f"{deck.name} at {CANVAS}: {defects}; fix: python -m tools.slide_layout"
        assert report.failed == [], f"{deck.name}: requests that need the network: {report.failed}"
        assert report.raw_tex == [], f"{deck.name}: TeX left unrendered: {report.raw_tex}"
        assert report.maths > 0, f"{deck.name}: MathJax rendered nothing"
    deck05 = next(d for d in decks if d.name.startswith("05_"))
    driver.get(deck05.resolve().as_uri())
    wait_for(driver, "window.Reveal && Reveal.isReady()", 30, "reveal.js")
    assert driver.execute_script("return document.querySelectorAll('img.animation').length") == 1, (
        "deck 05 shows its denoising animation")
    # The arrow keys page through a deck (offline, reveal.js's keyboard handler is live).
    driver.get(decks[1].resolve().as_uri())
    wait_for(driver, "window.Reveal && Reveal.isReady()", 30, "reveal.js")
    body = driver.find_element("css selector", "body")
    body.send_keys("\ue014")  # ARROW_RIGHT
    wait_for(driver, "Reveal.getIndices().h === 1", 10, "the right arrow to move to slide 2")
    driver.save_screenshot(str(SHOTS / f"{decks[1].stem}_slide2.png"))
