"""Argument checks the pruning methods share (one line naming the parameter and what is allowed)."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_fraction", "is_ratio"]


def is_ratio(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool) in [0, 1)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 1)


def check_fraction(fraction: object, param: str = "fraction") -> float:
    """``fraction`` as a float if it is a number in [0, 1); else a ValueError naming ``param``."""
    if not is_ratio(fraction):
        raise ValueError(f"{param}: must be a number in [0, 1), got {fraction!r}")
    return float(fraction)
