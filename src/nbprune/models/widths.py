"""Channel widths and cfg checking shared by the model families: width scaling, positive-int lists, and the
one-line ``cfg`` error."""

from __future__ import annotations

import numbers

__all__ = ["cfg_error", "int_list", "is_pos_int", "scale"]


def scale(channels: int, width: float) -> int:
    """Width-multiplied channel count: ``max(1, round(channels * width))``."""
    return max(1, round(channels * width))


def is_pos_int(value: object) -> bool:
    """True for a positive integer (bools excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def cfg_error(arch: str, allowed: str, cfg: object) -> ValueError:
    """A ValueError naming ``cfg``, the model and what is allowed."""
    return ValueError(f"cfg: {arch} needs {allowed}; got {cfg!r}")


def int_list(value: object, max_len: int, min_len: int = 1) -> list[int] | None:
    """``value`` as a list of ``min_len`` to ``max_len`` positive ints, else None."""
    if not isinstance(value, (list, tuple)) or not min_len <= len(value) <= max_len:
        return None
    if not all(is_pos_int(v) for v in value):
        return None
    return [int(v) for v in value]
