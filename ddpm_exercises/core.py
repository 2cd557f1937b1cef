"""How an exercise is checked: a verdict on one attempt, and a tutor that turns verdicts into feedback.

An :class:`Exercise` only judges (``evaluate(answer, *context) -> Verdict``); it holds no state.
A :class:`Tutor`, one per notebook session, counts each exercise's wrong attempts and decides
what to say:

- an untouched exercise (a function that still raises ``NotImplementedError``, a prediction
  still ``None``, a planted bug left as it is) says "not attempted" and gives nothing away;
- a wrong attempt names the mistake when it is a known one, else gives the first hint; each
  further wrong attempt reveals one more hint. Hints never contain the code;
- a right answer says so (a prediction also gets the measured outcome and why);
- a prediction the experiment did not test (outside the range it measured) says so, and counts
  neither as right nor as wrong.

Checks never raise, so a notebook executed top to bottom always succeeds; a check that crashes
says so as a fault of the course, and does not count as a wrong attempt.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import torch

Kind = Literal["implement", "predict, then run", "find the bug", "concept check"]
Status = Literal["correct", "wrong", "untouched", "untested"]


@dataclass(frozen=True)
class Verdict:
    """What an exercise's ``evaluate`` concluded about one attempt.

    ``mistake`` is the key of a known mistake (see :attr:`Exercise.mistakes`); ``detail`` says
    what was observed (a measured value, an error, a shape); ``explanation`` is shown whatever the
    outcome once it is known (predictions: why the experiment came out as it did).
    """

    status: Status
    mistake: str | None = None
    detail: str = ""
    explanation: str = ""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: each exercise exists once
class Exercise:
    """One exercise: its name, kind, what the learner must do, and how an attempt is judged.

    ``evaluate(answer, *context)`` returns a :class:`Verdict`. ``mistakes`` maps each known
    mistake's key to the sentence that names it; ``hints`` are revealed one per wrong attempt;
    ``planted`` is a find-the-bug exercise's source, bug included, as the notebook shows it.
    """

    name: str
    kind: Kind
    task: str
    evaluate: Callable[..., Verdict]
    hints: tuple[str, ...]
    mistakes: dict[str, str] = field(default_factory=dict)
    planted: str = ""  # find the bug: the source the notebook shows, bug included


State = Literal["correct", "not yet", "not attempted", "untested", "check failed"]
MARKS: dict[State, str] = {"correct": "✅", "not yet": "❌", "not attempted": "✏️", "untested": "❔",
                           "check failed": "⚠️"}


@dataclass
class CheckResult:
    """Outcome of a check: ``passed`` is True, False, or None (neither right nor wrong). ``state`` says which
    of the five outcomes it is: correct, not yet (a wrong attempt), not attempted, untested (a prediction outside
    what the experiment measured) or check failed (a fault of the course)."""

    exercise: str
    passed: bool | None
    message: str
    mistake: str | None = None
    state: State = "not attempted"

    def __str__(self) -> str:
        return f"[{self.exercise}: {self.state}] {self.message}"

    def _repr_markdown_(self) -> str:
        return f"{MARKS[self.state]} **{self.exercise}**: {self.message}"


class Tutor:
    """Checks attempts and remembers, per exercise, how many were wrong (one tutor per notebook)."""

    def __init__(self) -> None:
        self.wrong_attempts: dict[str, int] = {}

    def check(self, exercise: Exercise, answer: Any, *context: Any) -> CheckResult:
        """Judge ``answer`` (a function, a prediction, a fixed function) and say what to do next."""
        name = exercise.name
        library = getattr(answer, "__module__", None) or ""
        if exercise.kind == "implement" and library.split(".")[0] == "ddpm_lib":
            return CheckResult(name, None, f"that is the library's own {library}.{getattr(answer, '__qualname__', '')}, "
                                           f"the reference this check compares with; write your own version. "
                                           f"{exercise.task}", mistake="library function", state="not yet")
        try:
            verdict = exercise.evaluate(answer, *context)
        except Exception as err:  # a defect in the check itself: not the learner's mistake, and no hint spent
            return CheckResult(name, None, f"the check itself failed ({type(err).__name__}: {err}). This is a fault in "
                                           f"the course, not in your answer; please report it with this message.",
                               mistake="broken check", state="check failed")
        if verdict.status == "untouched":
            text = f"not attempted. {exercise.task}"
            return CheckResult(name, None, _join(text, verdict.explanation))
        if verdict.status == "correct":
            return CheckResult(name, True, _join(verdict.detail or "correct.", verdict.explanation), state="correct")
        if verdict.status == "untested":
            return CheckResult(name, None, _join(verdict.detail, verdict.explanation), state="untested")
        count = self.wrong_attempts.get(name, 0) + 1
        self.wrong_attempts[name] = count
        parts = [verdict.detail]
        if verdict.mistake is not None:
            parts.append(exercise.mistakes[verdict.mistake])
            shown = exercise.hints[:count - 1]  # the named mistake is the first hint
        else:
            shown = exercise.hints[:count]
        parts += [f"Hint {i + 1}: {h}" for i, h in enumerate(shown)]
        parts.append(verdict.explanation)
        return CheckResult(name, False, _join(*parts), verdict.mistake, state="not yet")


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


# -- judging a function against reference outputs ------------------------------------------------
def close(a: Any, b: torch.Tensor, atol: float = 1e-4) -> bool:
    """Same shape and values (in float64) within ``atol``."""
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(
        a.double(), b.double(), atol=atol, rtol=1e-4)


def judge_output(attempt: Callable[[], Any], expected: torch.Tensor | Callable[[], torch.Tensor],
                 mistakes: dict[str, torch.Tensor] | None = None, atol: float = 1e-4,
                 correct: str = "matches the library's answer.",
                 also_correct: dict[str, tuple[torch.Tensor, str]] | None = None,
                 rows: Sequence[str] | None = None) -> Verdict:
    """Call ``attempt()`` and compare its tensor with ``expected`` and with each known mistake's output.

    ``NotImplementedError`` means untouched; any other exception, a wrong type or shape is a
    wrong attempt whose detail says what happened. ``also_correct`` maps other right answers (a
    layout or a convention the literature also uses) to their outputs and the note that says how
    they differ from the library's. A mistake the check does not know gets a diagnosis
    (:func:`diagnose`); ``rows`` names the entries of the first dimension (e.g. "t=999") for it.
    """
    try:
        got = attempt()
    except NotImplementedError:
        return Verdict("untouched")
    except Exception as err:  # the learner's code: report, never crash the notebook
        return Verdict("wrong", detail=f"Your function raised {type(err).__name__}: {err}.")
    want = expected() if callable(expected) else expected
    if not isinstance(got, torch.Tensor):
        return Verdict("wrong", detail=f"Expected a torch.Tensor, got {type(got).__name__}.")
    if got.shape != want.shape:
        return Verdict("wrong", detail=f"Expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
    if close(got, want, atol):
        return Verdict("correct", detail=correct)
    for other, note in (also_correct or {}).values():
        if close(got, other, atol):
            return Verdict("correct", detail=note)
    for key, wrong in (mistakes or {}).items():
        if close(got, wrong, atol):
            return Verdict("wrong", mistake=key)
    return Verdict("wrong", detail=diagnose(got, want, rows))


def diagnose(got: torch.Tensor, want: torch.Tensor, rows: Sequence[str] | None = None) -> str:
    """Where and how ``got`` departs from ``want`` (same shape): the wrong sign, a constant factor or offset,
    or which entries of the first dimension are wrong (named by ``rows``), with the largest error."""
    g, w = got.detach().double().flatten(), want.double().flatten()
    error = float((g - w).abs().max())
    scale = float(w.abs().max()) or 1.0
    if torch.allclose(g, -w, atol=1e-4 * scale):
        return "Right shape, but every value has the wrong sign."
    factor = float(g @ w / (w @ w)) if float(w @ w) > 0 else 0.0
    if factor != 0.0 and torch.allclose(g, factor * w, atol=1e-4 * scale):
        return f"Right shape, but every value is {factor:.4g} times the right one: a constant factor is wrong."
    offset = float((g - w).mean())
    if torch.allclose(g, w + offset, atol=1e-4 * scale):
        return f"Right shape, but every value is off by the same {offset:+.4g}: a constant term is wrong."
    detail = f"Right shape, wrong values (largest error {error:.3g})"
    if got.ndim >= 1 and got.shape[0] > 1:
        bad = [(got[i].double() - want[i].double()).abs().max() > 1e-4 * max(1.0, float(want[i].abs().max()))
               for i in range(got.shape[0])]
        names = list(rows) if rows is not None and len(rows) == len(bad) else [f"entry {i}" for i in range(len(bad))]
        if any(bad) and not all(bad):
            wrong = [n for n, b in zip(names, bad) if b]
            right = [n for n, b in zip(names, bad) if not b]
            detail += f": wrong at {', '.join(wrong)}, right at {', '.join(right)}"
    return detail + "."


# -- recognising an untouched planted bug ----------------------------------------------------------
def same_code(a: types.CodeType, b: types.CodeType) -> bool:
    """True when two code objects compile the same statements (line numbers and file names aside)."""
    if (a.co_code, a.co_names, a.co_varnames, a.co_argcount) != (b.co_code, b.co_names, b.co_varnames, b.co_argcount):
        return False
    if len(a.co_consts) != len(b.co_consts):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        if isinstance(x, types.CodeType) and isinstance(y, types.CodeType):
            if not same_code(x, y):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def compile_function(source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """Execute ``source`` (one ``def``) in a copy of ``namespace`` and return the function it defines."""
    scope = dict(namespace)
    before = set(scope)
    exec(compile(source, "<planted bug>", "exec"), scope)  # our own fixed source text, never user input
    (name,) = [k for k in scope if k not in before and callable(scope[k])]
    fn: Callable[..., Any] = scope[name]
    return fn


def gaussian_velocity(x: torch.Tensor, s: float, mu: float = 0.3, sd: float = 0.5) -> torch.Tensor:
    """The exact flow-matching velocity E[eps - x0 | x_s = x] for data N(mu, sd^2) on the straight path: linear in x,
    and its ODE paths bend (unless sd = 1)."""
    var = (1 - s) ** 2 * sd ** 2 + s ** 2
    r = x - (1 - s) * mu
    return s / var * r - (mu + (1 - s) * sd ** 2 / var * r)
