"""The one-line error for a value outside a fixed set of choices (a model name, a preset, a dataset ...).

A leaf module: it imports nothing from nbprune, so every module can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["unknown_choice"]


def unknown_choice(param: str, value: object, allowed: Iterable[str]) -> ValueError:
    """A one-line ValueError naming ``param``, the closest allowed value and all allowed values.

    ``allowed`` is any iterable of strings (a list, a tuple, the keys of a dict); it is listed in its order,
    e.g. ``model: unknown 'resnt56'; did you mean 'resnet56'? allowed: densenet-bc-100, densenet40, ...``.
    The caller raises the result: ``raise unknown_choice("preset", name, PRESETS)``.
    """
    allowed = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return ValueError(f"{param}: unknown {value!r}{hint} allowed: {', '.join(allowed)}")
