"""Choose where sub-slides start so that every slide of every deck fits the deck's canvas (tools/slides.py CANVAS).

Authors mark the sections: a markdown cell whose ``slideshow.slide_type`` is ``slide`` or
``subslide`` starts one, and ``fragment`` cells are kept. This tool decides the rest from the cells'
rendered heights, measured in headless Chromium:

1. roles: ``parameters``, setup (import) and exercise cells (the stub and its check: the task's
   heading says it on the slide) are ``skip``; solution cells become speaker ``notes`` (the
   presenter sees them, the room does not); a code cell longer than ``MAX_CODE_LINES`` shows only its
   output (tag ``slides-output-only``), or goes to the notes if it has none: slides show the lines
   that teach, the notebook keeps all of them;
2. each remaining cell is rendered alone and measured; a code cell taller than the canvas shows only
   its output too;
3. cells are packed in order: a cell that would push its slide past the canvas starts a sub-slide,
   which repeats the section's heading (``tools/slides.py``), so room is kept for it.

    python -m tools.slide_layout notebooks/*.ipynb          # rewrite slide metadata in place
    python -m tools.slide_layout --check notebooks/*.ipynb  # only report slides that do not fit

Run it after editing a notebook's cells; ``tests/browser`` fails if a committed deck overflows.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.browser import BrowserUnavailable, DeckReport, chromium_driver, measure_deck, print_report
from tools.notebook_form import cell_source, save
from tools.notebook_times import is_box
from tools.slides import CANVAS, HIDE_INPUT_TAG, SlidesError, export_deck, heading, slide_type, vendor_all

#: Room kept free under each slide (px) for reveal's controls and rounding.
MARGIN = 24
#: Height (px) of the "(cont.)" heading a sub-slide gets when it does not open with one.
CONTINUED_HEADING = 70
#: Longer code cells show only their output on slides.
MAX_CODE_LINES = 20


def set_slide_type(cell: dict[str, Any], kind: str) -> None:
    cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = kind


def is_setup(cell: dict[str, Any]) -> bool:
    """Parameters cells and the imports cell: code an audience does not need to see."""
    if cell.get("cell_type") != "code":
        return False
    if "parameters" in cell.get("metadata", {}).get("tags", []):
        return True
    lines = [ln for ln in cell_source(cell).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(lines) and lines[0].startswith(("import ", "from "))


def is_solution(cell: dict[str, Any]) -> bool:
    """The closing "Solutions" section: its heading and every ``<details>`` solution in it."""
    text = cell_source(cell).lstrip()
    return cell.get("cell_type") == "markdown" and text.startswith(("<details><summary>Solution", "## Solutions"))


def is_exercise(cell: dict[str, Any]) -> bool:
    """An exercise's code: the stub or answer line and its ``tutor.check``."""
    return cell.get("cell_type") == "code" and "tutor.check(" in cell_source(cell)


def add_tag(cell: dict[str, Any], tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def is_section_start(cell: dict[str, Any]) -> bool:
    return slide_type(cell) in ("slide", "subslide") and heading(cell) is not None


def heading_room(cell: dict[str, Any]) -> int:
    """Height a sub-slide opening with ``cell`` adds for its "(cont.)" heading: none if it has one."""
    return 0 if heading(cell) is not None else CONTINUED_HEADING


def assign_roles(nb: dict[str, Any]) -> None:
    """Setup cells, exercises and the "Before you run" box -> skip, solutions and long code without
    output -> notes, long code with output -> output only; every other non-section, non-fragment
    cell -> '-'."""
    for index, cell in enumerate(nb["cells"]):
        long_code = cell.get("cell_type") == "code" and len(cell_source(cell).splitlines()) > MAX_CODE_LINES
        if is_setup(cell) or is_box(cell) or is_exercise(cell):
            set_slide_type(cell, "skip")
        elif is_solution(cell) or (long_code and not cell.get("outputs")):
            set_slide_type(cell, "notes")
        elif long_code:
            add_tag(cell, HIDE_INPUT_TAG)
            set_slide_type(cell, "-")
        elif index == 0 or is_section_start(cell):
            set_slide_type(cell, "slide" if index == 0 else slide_type(cell))
        elif slide_type(cell) not in ("fragment",):
            set_slide_type(cell, "-")


def visible(nb: dict[str, Any]) -> list[int]:
    return [i for i, c in enumerate(nb["cells"]) if slide_type(c) not in ("skip", "notes")]


def measure(nb: dict[str, Any], driver: Any, workdir: Path, vendor: str, headings: bool = True) -> DeckReport:
    """Export ``nb`` (a notebook not on disk) as a deck in ``workdir`` and measure its slides."""
    path = workdir / "probe.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return measure_deck(driver, export_deck(path, workdir, vendor=vendor, headings=headings))


def cell_heights(nb: dict[str, Any], driver: Any, workdir: Path, vendor: str) -> dict[int, int]:
    """Height (px) of each visible cell rendered alone on a slide."""
    probe = copy.deepcopy(nb)
    cells = visible(probe)
    for i in cells:
        set_slide_type(probe["cells"][i], "slide")
    report = measure(probe, driver, workdir, vendor, headings=False)
    if len(report.slides) != len(cells):
        raise RuntimeError(f"expected {len(cells)} probe slides, measured {len(report.slides)}")
    return {i: s.height for i, s in zip(cells, report.slides)}


def pack(nb: dict[str, Any], heights: dict[int, int], budget: int) -> list[int]:
    """Start a sub-slide wherever the next cell would overflow; return the cells that start one."""
    starts, used = [], 0
    for i in visible(nb):
        cell = nb["cells"][i]
        kind = slide_type(cell)
        if i == 0 or is_section_start(cell):
            used = heights[i]
            continue
        if kind == "subslide":
            set_slide_type(cell, "-")
        if used + heights[i] > budget and used > 0:
            set_slide_type(cell, "subslide")
            starts.append(i)
            used = heights[i] + heading_room(cell)
        else:
            used += heights[i]
    return starts


def layout(path: Path, driver: Any, workdir: Path, vendor: str, budget: int) -> tuple[dict[str, Any], list[str]]:
    """The notebook with its slide metadata chosen; and warnings for cells that cannot fit alone.

    Heights of cells measured alone do not quite add up on a shared slide (margins, wrapping), so the
    packed deck is measured again and, while a slide overflows, packed with a budget smaller by the
    overflow (at most three rounds).
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if HIDE_INPUT_TAG in tags:
            tags.remove(HIDE_INPUT_TAG)
            if not tags:
                del cell["metadata"]["tags"]
    assign_roles(nb)
    heights = cell_heights(nb, driver, workdir, vendor)
    tall = [i for i, h in heights.items() if h + heading_room(nb["cells"][i]) > budget
            and nb["cells"][i]["cell_type"] == "code" and nb["cells"][i].get("outputs")]
    for i in tall:
        add_tag(nb["cells"][i], HIDE_INPUT_TAG)
    if tall:
        heights = cell_heights(nb, driver, workdir, vendor)
    warnings = [f"{path.name}: cell {i} is {h}px tall alone ({cell_source(nb['cells'][i])[:50]!r}); split it"
                for i, h in heights.items() if h + heading_room(nb["cells"][i]) > CANVAS[1]]
    for _ in range(3):
        pack(nb, heights, budget)
        report = measure(nb, driver, workdir, vendor)
        overflow = max((s.height - CANVAS[1] for s in report.slides), default=0)
        if overflow <= 0:
            break
        budget -= overflow
    return nb, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slide_layout", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report slides that do not fit; change nothing")
    parser.add_argument("--tarballs", type=Path, default=None, help="as for python -m tools.slides")
    args = parser.parse_args(argv)
    budget = CANVAS[1] - MARGIN
    try:
        driver = chromium_driver()
    except BrowserUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    problems = 0
    try:
        with tempfile.TemporaryDirectory(prefix="slide-layout-") as tmp:
            workdir = Path(tmp)
            vendor_all(workdir / "vendor", tarballs=args.tarballs)
            for path in args.notebooks:
                if not args.check:
                    nb, warnings = layout(path, driver, workdir, "vendor", budget)
                    save(path, nb)
                    for warning in warnings:
                        print(f"warning: {warning}", file=sys.stderr)
                problems += print_report(path.name, measure_deck(driver, export_deck(path, workdir)))
    except SlidesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        driver.quit()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
