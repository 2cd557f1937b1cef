"""The notebooks' exercises, read from the committed files: how many, of which kinds, where the
solutions sit, and that every planted bug is shown exactly as the check expects it."""

import json
import re
from pathlib import Path

import pytest

import ddpm_exercises as ex

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9]*.ipynb"))
HEADING = re.compile(r"^###+ Exercises? ([\d and]+) \((implement|predict, then run|find the bug)\)", re.M)


def cells(path):
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def exercise_headings(path):
    found = []
    for kind, text in cells(path):
        if kind == "markdown":
            for numbers, what in HEADING.findall(text):
                found += [(int(n), what) for n in re.findall(r"\d+", numbers)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_three_exercises_of_two_kinds_numbered_in_order(path):
    found = exercise_headings(path)
    assert len(found) >= 3 and len({k for _, k in found}) >= 2, found
    assert [n for n, _ in found] == list(range(1, len(found) + 1)), found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_only_in_the_closing_section(path):
    texts = cells(path)
    start = [i for i, (k, t) in enumerate(texts) if k == "markdown" and t.startswith("## Solutions")]
    assert len(start) == 1, "one '## Solutions' section"
    solutions = [i for i, (k, t) in enumerate(texts) if "<summary>Solution" in t]
    assert solutions and min(solutions) > start[0] and all(texts[i][0] == "markdown" for i in solutions)
    assert len(solutions) == len(exercise_headings(path))
    summary = [i for i, (k, t) in enumerate(texts) if k == "markdown" and t.startswith("## Summary")]
    assert summary and summary[0] < start[0]


def test_every_exercise_is_used_and_every_check_names_a_real_one():
    used = set()
    for path in NOTEBOOKS:
        for kind, text in cells(path):
            if kind == "code":
                assert "check_" not in text.replace("check_output", ""), f"{path.name}: old check function"
                used.update(re.findall(r"tutor\.check\(ex\.([A-Z0-9_]+)", text))
    names = {name for name in dir(ex) if isinstance(getattr(ex, name), ex.Exercise)}
    assert used <= names, used - names
    assert {getattr(ex, n) for n in used} == set(ex.ALL)


def test_planted_bugs_appear_verbatim_in_their_notebook():
    code = "\n".join(t for path in NOTEBOOKS for k, t in cells(path) if k == "code")
    for exercise in ex.bugs.ALL:
        assert exercise.planted.strip() in code, exercise.name
