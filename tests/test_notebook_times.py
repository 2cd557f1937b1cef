"""Every notebook opens with a "Before you run" box written from measured times, never by hand."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.notebook_times import (BOX_TAG, TIMES_PATH, _duration, _heading, _seconds, box_markdown, is_box, reading_words,
                                  load_times, with_box)

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

MACHINE = {"cpu": "Test CPU", "cores": 2, "torch": "x", "date": "2026-11-22", "matmul_gflops": {"fp32": 200, "bf16": 400}}
TIMES = {"presets": {
    "cpu": {"notebooks": {"05_demo": {"seconds": 790.4, "machine": MACHINE,
                                      "slowest": {"section": "Judging what was drawn", "seconds": 361.0}}}},
    "smoke": {"notebooks": {"05_demo": {"seconds": 21.7, "machine": {}, "slowest": {"section": "x", "seconds": 5.0}}}}}}


def test_durations_read_as_a_person_would_say_them() -> None:
    assert [_duration(s) for s in (8.4, 59.4, 61, 125, 600, 790.4, 3600)] == [
        "8 s", "59 s", "1 min 01 s", "2 min 05 s", "10 min", "13 min", "60 min"]


def test_cell_seconds_come_from_nbclients_timestamps() -> None:
    execution = {"iopub.execute_input": "2026-11-22T08:09:43.500000Z",
                 "shell.execute_reply": "2026-11-22T08:09:48.750000Z"}
    assert _seconds(execution) == pytest.approx(5.25)
    assert _seconds({}) == 0.0


def test_the_slowest_cell_is_named_by_its_section() -> None:
    cells = [{"cell_type": "markdown", "source": "# 05 · Title"}, {"cell_type": "code", "source": "x"},
             {"cell_type": "markdown", "source": "Some text\n## Judging what was drawn\nmore"},
             {"cell_type": "code", "source": "y"},
             {"cell_type": "markdown", "source": "### Exercise 3 (predict, then run)"}, {"cell_type": "code", "source": "z"}]
    assert _heading(cells, 1) == "05 · Title" and _heading(cells, 3) == "Judging what was drawn"
    assert _heading(cells, 0) == "the first cells"
    assert _heading(cells, 5) == "Judging what was drawn"  # an exercise heading is not a section


def test_the_box_states_the_measured_times_machine_and_what_to_do() -> None:
    text = box_markdown(TIMES, "05_demo", 1500)
    assert "a 2-core Test CPU whose matrix products peak at 200 GFLOP/s in fp32 and 400 in bf16" in text
    assert "Reading takes about **12 min** (1,500 words)" in text and "../docs/glossary.md" in text
    assert "about **13 min** to run" in text and "*Judging what was drawn* (6 min 01 s)" in text
    assert "about 22 s" in text and "pictures are noise" in text and "python -m ddpm_lib bench" in text


def test_with_box_inserts_after_the_title_once_then_replaces() -> None:
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# T"},
                    {"cell_type": "code", "metadata": {}, "source": "x", "outputs": []}]}
    once = with_box(nb, "box 1")
    assert [is_box(c) for c in once["cells"]] == [False, True, False]
    assert once["cells"][1]["metadata"] == {"slideshow": {"slide_type": "skip"}, "tags": [BOX_TAG]}
    twice = with_box(once, "box 2")
    assert len(twice["cells"]) == 3 and twice["cells"][1]["source"] == "box 2"
    assert len(nb["cells"]) == 2, "the input is not modified"


def test_run_times_cover_every_notebook_in_both_presets() -> None:
    times = load_times()
    assert TIMES_PATH.is_file(), "fix: make notebooks (it measures notebooks/run_times.json)"
    for preset in ("cpu", "smoke"):
        entry = times["presets"][preset]
        assert sorted(entry["notebooks"]) == [p.stem for p in NOTEBOOKS]
        for t in entry["notebooks"].values():
            assert t["seconds"] >= t["slowest"]["seconds"] > 0 and t["machine"]["matmul_gflops"]["fp32"] > 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_opens_with_the_box_its_measured_times_give(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    boxes = [i for i, c in enumerate(cells) if is_box(c)]
    assert boxes == [1], f"{path.name}: one 'Before you run' box, right after the title"
    assert "".join(cells[1]["source"]) == box_markdown(load_times(), path.stem, reading_words(nb)), (
        f"{path.name}: its box differs from notebooks/run_times.json; fix: python -m tools.notebook_times --boxes "
        "notebooks/*.ipynb")
