"""The headless Chromium the browser tests drive: one for JupyterLab and the decks, one offline for the website."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.browser import BrowserUnavailable, chromium_driver

SHOTS = Path(__file__).resolve().parents[2] / "build" / "browser"


def headless(window: tuple[int, int]) -> Iterator[Any]:
    """Chromium at ``window`` (width, height), quit afterwards; the test skips, saying why, where there is none."""
    try:
        browser = chromium_driver(window)
    except BrowserUnavailable as err:
        pytest.skip(f"no headless browser here: {err}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    yield from headless((1400, 1000))


@pytest.fixture(scope="module")
def offline() -> Iterator[Any]:
    """Chromium with every http(s) and websocket request blocked: the site must need none."""
    for browser in headless((1280, 900)):
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
        yield browser
