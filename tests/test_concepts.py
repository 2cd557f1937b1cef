"""Concept checks: every right answer is accepted with its reason, every wrong choice and known wrong number
gets its own explanation (and not the right one's), an untouched question says "not attempted", and every
notebook asks at least three, each shown exactly as the library states it."""

import json
from pathlib import Path

import pytest

import ddpm_exercises as ex
from ddpm_exercises.concepts import LETTERS, QUESTIONS, Question, markdown

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def question(exercise: ex.Exercise) -> Question:
    return QUESTIONS[exercise.name]


@pytest.mark.parametrize("exercise", ex.concepts.ALL, ids=lambda e: e.name)
def test_the_right_answer_is_accepted_with_its_reason(exercise: ex.Exercise) -> None:
    right = question(exercise).right
    result = ex.Tutor().check(exercise, right)
    assert result.passed is True and result.state == "correct", result
    assert len(result.message) > 60  # the reason, not a bare "correct"
    if isinstance(right, str):
        assert ex.Tutor().check(exercise, f" ({right.upper()}) ").passed is True  # "(B)" and " b" both mean b


@pytest.mark.parametrize("exercise", ex.concepts.ALL, ids=lambda e: e.name)
def test_every_wrong_answer_is_explained_without_giving_the_right_one(exercise: ex.Exercise) -> None:
    q = question(exercise)
    wrong = [LETTERS[i] for i in range(len(q.choices)) if LETTERS[i] != q.right] if q.choices else list(q.wrong)
    assert len(wrong) >= 2 or (not q.choices and len(wrong) >= 1)
    right_reason = ex.Tutor().check(exercise, q.right).message
    for answer in wrong:
        result = ex.Tutor().check(exercise, answer)
        assert result.passed is False and result.state == "not yet"
        explanation = exercise.mistakes[result.mistake or ""]
        assert explanation in result.message and len(explanation) > 20
        assert right_reason.split(" ", 3)[-1] not in result.message


@pytest.mark.parametrize("exercise", ex.concepts.ALL, ids=lambda e: e.name)
def test_untouched_and_malformed_answers(exercise: ex.Exercise) -> None:
    tutor = ex.Tutor()
    untouched = tutor.check(exercise, None)
    assert untouched.passed is None and untouched.state == "not attempted"
    assert untouched.message.startswith("not attempted") and tutor.wrong_attempts == {}
    assert str(untouched).startswith(f"[{exercise.name}: not attempted]")
    q = question(exercise)
    bad = tutor.check(exercise, "z" if q.choices else "ten")
    assert bad.passed is False and ("one letter" in bad.message if q.choices else "a number" in bad.message)
    if not q.choices:
        assert tutor.check(exercise, True).passed is False  # a bool is not a number
        far = tutor.check(exercise, 1e9)
        assert far.mistake is None and "Hint 1" in far.message


def test_a_numeric_answer_counts_within_its_tolerance_only() -> None:
    tutor = ex.Tutor()
    assert tutor.check(ex.HEUN_CALLS, 15).passed is True
    assert tutor.check(ex.HEUN_CALLS, 16).mistake == "0"
    assert "Euler" in tutor.check(ex.HEUN_CALLS, 16).message
    assert tutor.check(ex.MIN_SNR_WEIGHT, 0.052).passed is True
    assert tutor.check(ex.MIN_SNR_WEIGHT, 0.07).passed is False


def test_the_other_states_have_their_own_marks() -> None:
    tutor = ex.Tutor()
    untested = tutor.check(ex.FEWEST_DDIM_STEPS, 1, [5, 10], [1.0, 1.0])
    assert untested.state == "untested" and untested._repr_markdown_().startswith("❔")
    from ddpm_lib.schedule import NoiseSchedule
    library = tutor.check(ex.Q_SAMPLE, NoiseSchedule.q_sample)
    assert library.state == "not yet" and library._repr_markdown_().startswith("❌")
    assert tutor.check(ex.WHY_SHRINK, None)._repr_markdown_().startswith("✏️")


def notebook_concepts(path: Path) -> list[tuple[str, str, str]]:
    """(markdown before, code, exercise name) for each concept check cell of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        for exercise in ex.concepts.ALL:
            if cell["cell_type"] == "code" and f"tutor.check(ex.{_attr(exercise)}, answer)" in source:
                found.append(("".join(cells[i - 1]["source"]), source, exercise.name))
    return found


def _attr(exercise: ex.Exercise) -> str:
    return next(name for name in dir(ex) if getattr(ex, name) is exercise)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_asks_three_concept_checks_as_the_library_states_them(path: Path) -> None:
    found = notebook_concepts(path)
    assert len(found) >= 3, f"{path.name} asks {len(found)} concept checks"
    for before, code, name in found:
        exercise = next(e for e in ex.concepts.ALL if e.name == name)
        assert before == markdown(exercise), f"{path.name}: the question above {name!r} differs from the library's"
        assert code.startswith("answer = None  #")


def test_each_concept_check_is_asked_once() -> None:
    names = [name for path in NOTEBOOKS for _, _, name in notebook_concepts(path)]
    assert sorted(names) == sorted(e.name for e in ex.concepts.ALL)
