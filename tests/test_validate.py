import math
from typing import Any

import pytest

from ddpm_lib.validate import check_number, check_whole


def test_check_whole_accepts_ints_in_range_and_says_what_is_wrong():
    assert check_whole("steps", 3, 1) == 3 and check_whole("seed", 0, 0, 9) == 0
    for value, pattern in ((0, "steps must be a whole number >= 1, got 0"), (2.0, "got 2.0"), (True, "got True"),
                           ("3", "got '3'")):
        with pytest.raises(ValueError, match=pattern):
            check_whole("steps", value, 1)
    with pytest.raises(ValueError, match=r"seed must be a whole number from 0 to 9 \(why\), got 10"):
        check_whole("seed", 10, 0, 9, why=" (why)")


def test_check_number_intervals_and_non_finite_values():
    assert check_number("lr", 1e-3, 0.0, 10.0, low_open=True) == 1e-3 and check_number("w", -2) == -2.0
    cases: list[tuple[dict[str, Any], float, str]] = [(dict(low=0.0, high=1.0, high_open=True), 1.0, r"x must be a finite number in \[0, 1\), got 1.0"),
             (dict(low=0.0, high=10.0, low_open=True), 0.0, r"in \(0, 10\], got 0.0"),
             (dict(low=0.0), -1.0, "x must be a finite number >= 0, got -1.0"),
             (dict(high=5.0, high_open=True), 5.0, "x must be a finite number < 5, got 5.0"),
             (dict(), math.nan, "x must be a finite number, got nan"),
             (dict(), math.inf, "got inf"), (dict(), False, "got False")]
    for kw, value, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            check_number("x", value, **kw)
