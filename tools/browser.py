"""Headless Chromium (Debian's ``chromium`` and ``chromedriver``, driven by Selenium) for the checks a
reader's browser makes: slide decks that paginate and fit, JupyterLab running a notebook.

Nothing here downloads a browser. ``chromium_driver`` raises ``BrowserUnavailable`` with the reason
and the fix when Selenium, Chromium or chromedriver is missing, so tests can skip cleanly.

    python -m tools.browser build/slides/*.slides.html   # one line per slide that does not fit
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.slides import CANVAS

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
LAB_TOKEN = "course-browser-test"
INSTALL_HINT = "apt-get install chromium chromium-driver, and pip install selenium"


class BrowserUnavailable(RuntimeError):
    """No headless browser can be started here; the message says what is missing and the fix."""


def find_browser() -> tuple[str, str]:
    """Paths of a Chromium binary and its chromedriver (``CHROMIUM``/``CHROMEDRIVER`` override them)."""
    browser = os.environ.get("CHROMIUM") or next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if browser is None:
        raise BrowserUnavailable(f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}); fix: {INSTALL_HINT}")
    if driver is None:
        raise BrowserUnavailable(f"no chromedriver on PATH beside {browser}; fix: {INSTALL_HINT}")
    return browser, driver


def chromium_driver(window: tuple[int, int] = (1280, 900)) -> Any:
    """A headless Chromium WebDriver with the given window size (width, height) in CSS pixels."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        raise BrowserUnavailable(f"Selenium is not installed ({err}); fix: {INSTALL_HINT}") from err
    browser, driver = find_browser()
    options = Options()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={window[0]},{window[1]}", "--hide-scrollbars"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as err:
        raise BrowserUnavailable(f"{browser} with {driver} did not start: {err.msg}; fix: install matching "
                                 f"versions ({INSTALL_HINT})") from err


def wait_for(driver: Any, script: str, timeout: float, what: str, *args: Any, interval: float = 0.25) -> Any:
    """Poll ``return <script>`` (``args`` as ``arguments[i]``) until it is truthy; raise ``TimeoutError``
    naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return {script}", *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- slide decks -------------------------------------------------------------------------------------

#: Smallest code font (screen px) readable from the back of a room on a 1280x800 projector.
MIN_CODE_PX = 19.5


@dataclass(frozen=True)
class SlideFit:
    """One reveal.js slide measured in the canvas's own CSS pixels (before reveal scales it)."""

    index: str            #: "h/v", as in the deck's URL
    title: str            #: the slide's first heading or first words
    height: int           #: content height (scrollHeight)
    width: int            #: content width (scrollWidth)
    clipped_lines: int    #: <pre> blocks wider than their box (code cut at the right edge)
    has_heading: bool = True    #: an h1-h3 names the slide
    code_px: float = 0.0        #: smallest code font on the slide in screen pixels (0: no code)
    clutter: tuple[str, ...] = ()  #: object reprs, test markers or untouched exercise feedback shown

    def fits(self, canvas: tuple[int, int] = CANVAS) -> bool:
        return self.height <= canvas[1] and self.width <= canvas[0] and self.clipped_lines == 0

    def defects(self) -> list[str]:
        """What an audience would trip over on this slide (empty when it is fine)."""
        found = [] if self.fits() else [f"{self.width}x{self.height}, {self.clipped_lines} clipped <pre>"]
        found += [] if self.has_heading else ["no heading"]
        found += [f"code at {self.code_px:.1f} px"] if 0 < self.code_px < MIN_CODE_PX else []
        return found + [f"shows {text!r}" for text in self.clutter]


@dataclass(frozen=True)
class DeckReport:
    slides: list[SlideFit]
    reveal_ready: bool    #: reveal.js initialised (arrow keys page through slides)
    maths: int            #: formulas MathJax rendered
    raw_tex: list[str]    #: visible text that still looks like TeX source
    failed: list[str]     #: requests the page could not load (offline, every one is a defect)


_MEASURE = """
const s = Reveal.getCurrentSlide();
const pres = Array.from(s.querySelectorAll('pre')).filter(p => p.scrollWidth > p.clientWidth + 1).length;
const head = s.querySelector('h1, h2, h3');
const title = (head ? head.textContent : s.textContent).replace(/\u00b6/g, '').trim().replace(/\\s+/g, ' ').slice(0, 60);
const sizes = Array.from(s.querySelectorAll('pre')).filter(p => p.closest('aside.notes') === null)
    .map(p => parseFloat(getComputedStyle(p).fontSize) * Reveal.getScale());
const shown = Array.from(s.childNodes).filter(n => !(n.matches && n.matches('aside.notes')))
    .map(n => n.textContent).join(' ');
const clutter = [/<[\\w.]+ object( at 0x[0-9a-f]+)?>/, /NBVAL_|# *noqa/, /\u270f\ufe0f[^\\n]*not attempted/]
    .map(r => (shown.match(r) || [null])[0]).filter(m => m !== null);
return [s.scrollHeight, s.scrollWidth, pres, title, head !== null, sizes.length ? Math.min(...sizes) : 0, clutter];
"""

_MATHS_DONE = "window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0 && window.__typeset_done"

_RAW_TEX = r"""
const walker = document.createTreeWalker(document.querySelector(arguments[0]), NodeFilter.SHOW_TEXT);
const raw = [];
const pattern = /\$\$|\\\(|\\\[|\$[^$\s][^$]*\\[a-zA-Z]+|\\(frac|sqrt|alpha|beta|epsilon|mathbf|left|right)\b/;
let node;
while ((node = walker.nextNode())) {
  const parent = node.parentElement;
  if (!parent || parent.closest('pre, code, script, style, .MathJax_Preview, aside.notes')) continue;
  if (pattern.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
}
return raw;
"""


def raw_tex(driver: Any, root: str) -> list[str]:
    """Visible text under the element ``root`` (a CSS selector) that still looks like TeX source."""
    return list(driver.execute_script(_RAW_TEX, root))


def failed_requests(driver: Any) -> list[str]:
    """Requests the page could not load since the log was last read (offline, every one is a defect)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Failed to load resource" in entry.get("message", "") or "ERR_" in entry.get("message", "")]


def measure_deck(driver: Any, deck: Path, timeout: float = 60.0) -> DeckReport:
    """Open ``deck`` from disk (file://, as an instructor would) and measure every slide, shown on a
    screen of the canvas's size (a 1280x800 projector)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": CANVAS[0], "height": CANVAS[1], "deviceScaleFactor": 1, "mobile": False})
    driver.get(deck.resolve().as_uri())
    ready = bool(wait_for(driver, "window.Reveal && Reveal.isReady && Reveal.isReady()", timeout,
                          f"reveal.js to start in {deck.name}"))
    driver.execute_script("MathJax.Hub.Queue(function () { window.__typeset_done = true; });")
    wait_for(driver, _MATHS_DONE, timeout, f"MathJax to typeset {deck.name}")
    slides = []
    for h, v in driver.execute_script(
            "return Reveal.getSlides().map(s => { const i = Reveal.getIndices(s); return [i.h, i.v || 0]; })"):
        driver.execute_script(f"Reveal.slide({h}, {v}, -1)")
        height, width, clipped, title, heading, code_px, clutter = driver.execute_script(_MEASURE)
        slides.append(SlideFit(f"{h}/{v}", title, int(height), int(width), int(clipped), bool(heading),
                               float(code_px), tuple(clutter)))
    failed = failed_requests(driver)
    maths = int(driver.execute_script(
        "return document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container').length"))
    return DeckReport(slides, ready, maths, raw_tex(driver, ".slides"), failed)


# --- JupyterLab --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def jupyter_lab(root: Path, *, env: dict[str, str] | None = None, log: Path | None = None,
                timeout: float = 90.0) -> Iterator[str]:
    """Run JupyterLab on 127.0.0.1 serving ``root``; yield its base URL. Stops it afterwards.

    The app object is exposed as ``window.jupyterapp`` so a test can run commands
    (``notebook:run-all-cells``, ``docmanager:save``) as the menus do. Kernels inherit ``env``.
    User settings and workspaces live in a temporary folder (the reader's own are not read or
    written), with the news pop-up off so it covers nothing in screenshots.
    """
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={LAB_TOKEN}", "--LabApp.expose_app_in_browser=True",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log, "w")) if log is not None else None
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lab-settings-")))
        news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text('{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8")
        isolated = {"JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
                    "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
        process = subprocess.Popen(command, stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                   env={**os.environ, **isolated, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start on 127.0.0.1:{port}" + (f"; see {log}" if log else ""))
                time.sleep(0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_PANEL = "window.jupyterapp?.shell?.currentWidget"
_READY = (f"{_PANEL}?.context?.isReady && {_PANEL}?.sessionContext?.session?.kernel?.status === 'idle'")
_CODE_CELLS = f"{_PANEL}.content.model.sharedModel.cells.filter(c => c.cell_type === 'code')"


class LabNotebook:
    """A notebook open in JupyterLab, driven through ``window.jupyterapp``."""

    def __init__(self, driver: Any, base_url: str, path: str, timeout: float = 120.0) -> None:
        self.driver, self.path = driver, path
        driver.get(f"{base_url}/lab/tree/{path}?token={LAB_TOKEN}")
        wait_for(driver, _READY, timeout, f"JupyterLab to open {path} and start its kernel")
        wait_for(driver, f"{_PANEL}.content.widgets.length > 0 && "
                 f"{_PANEL}.content.widgets.length === {_PANEL}.content.model.cells.length",
                 timeout, f"the cells of {path} to load")

    def js(self, body: str) -> Any:
        return self.driver.execute_script(f"const panel = {_PANEL}; const nb = panel.content; {body}")

    @property
    def dirty(self) -> bool:
        return bool(self.js("return panel.context.model.dirty;"))

    def command(self, name: str) -> None:
        """Start a JupyterLab command and return at once; callers wait on the page's state (``wait_for``).

        Returning the command's promise would make WebDriver wait for it under its script timeout (30 s),
        which running every cell outlasts on a busy machine."""
        self.driver.execute_script(f"window.jupyterapp.commands.execute('{name}'); return null;")

    def save(self, timeout: float = 60.0) -> None:
        """Save, and wait until the server has written the file: its ``last_modified`` has moved on (a clean
        notebook is not dirty before the save either, so dirtiness alone cannot tell)."""
        before = self.js("return panel.context.contentsModel.last_modified;")
        self.command("docmanager:save")
        wait_for(self.driver, f"!{_PANEL}.context.model.dirty && {_PANEL}.context.contentsModel.last_modified !== "
                 f"arguments[0]", timeout, f"{self.path} to be saved", before)

    def outputs(self) -> list[list[dict[str, Any]]]:
        """Each code cell's outputs as nbformat JSON (from JupyterLab's model, rendered or not)."""
        return list(self.driver.execute_script(f"return {_CODE_CELLS}.map(c => c.toJSON().outputs);"))

    def run_all(self, timeout: float) -> None:
        """Clear every output, run all cells, and wait until each code cell ran or one raised."""
        self.command("notebook:clear-all-cell-outputs")
        wait_for(self.driver, f"{_CODE_CELLS}.every(c => c.execution_count === null)", 30, "outputs to clear")
        self.command("notebook:run-all-cells")
        done = (f"{_PANEL}.sessionContext.session.kernel.status === 'idle' && "
                f"{_CODE_CELLS}.every(c => c.execution_count !== null) || "
                f"{_CODE_CELLS}.some(c => c.outputs.some(o => o.output_type === 'error'))")
        wait_for(self.driver, done, timeout, f"every cell of {self.path} to run", interval=1.0)

    def errors(self) -> list[str]:
        """``ename: evalue`` of every error output."""
        return [f"{o.get('ename')}: {o.get('evalue')}" for cell in self.outputs() for o in cell
                if o.get("output_type") == "error"]

    def cell_node(self, index: int) -> Any:
        """The DOM node of code cell ``index`` (counting code cells only), scrolled into view."""
        position = self.js(f"const ids = nb.widgets.map((w, i) => [w.model.type, i]).filter(p => p[0] === 'code');"
                           f" return ids[{index}][1];")
        self.js(f"nb.activeCellIndex = {position}; return nb.scrollToItem({position}, 'center');")
        time.sleep(0.5)
        return self.js(f"return nb.widgets[{position}].node;")


def print_report(name: str, report: DeckReport) -> int:
    """One line for the deck, one per problem (a slide's defects, raw TeX, failed request); their count."""
    bad = [s for s in report.slides if s.defects()]
    print(f"{name}: {len(report.slides)} slides, {len(bad)} with defects on a {CANVAS[0]}x{CANVAS[1]} canvas, "
          f"{report.maths} formulas rendered, {len(report.raw_tex)} raw TeX, {len(report.failed)} failed requests")
    for s in bad:
        print(f"  slide {s.index}: {'; '.join(s.defects())}  {s.title!r}")
    for text in report.raw_tex:
        print(f"  raw TeX: {text!r}")
    for message in report.failed:
        print(f"  failed request: {message}")
    return len(bad) + len(report.raw_tex) + len(report.failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.browser", description="Measure slide decks in Chromium.")
    parser.add_argument("decks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        driver = chromium_driver()
    except BrowserUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        bad = sum(print_report(deck.name, measure_deck(driver, deck)) for deck in args.decks)
    finally:
        driver.quit()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
