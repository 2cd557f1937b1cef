"""Checks of the numbers a user gives: one wording for every refusal, in the library and on the command line.

Used by ``config`` (every field of ``ModelConfig`` and ``TrainConfig``), ``runtime`` (seeds),
``sample`` (steps, eta, guidance), ``evaluate`` and the command line's argument types. Each check
returns the value it accepted, or raises ``ValueError`` that names what was checked, what is
expected and the value given, e.g. "TrainConfig field 'steps' must be a whole number >= 1, got 0".
"""

from __future__ import annotations

import math


def check_whole(what: str, value: object, minimum: int, maximum: int | None = None, *, why: str = "") -> int:
    """``value`` as an int in [minimum, maximum] (bools and floats refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{what} must be a whole number {span}{why}, got {value!r}")
    return value


def check_number(what: str, value: object, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, why: str = "") -> float:
    """``value`` as a finite float in the interval (no interval: any finite number), else ``ValueError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (low is None or (v > low if low_open else v >= low)) and (high is None or (v < high if high_open else v <= high))
    if not ok:
        if low is not None and high is not None:
            interval = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            interval = f" {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            interval = f" {'<' if high_open else '<='} {high:g}"
        else:
            interval = ""
        raise ValueError(f"{what} must be a finite number{interval}{why}, got {value!r}")
    return float(value)  # type: ignore[arg-type]
