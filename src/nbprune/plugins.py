"""Plug-in discovery: a package whose modules register things imports every one of its modules.

:mod:`nbprune.models` (model families) and :mod:`nbprune.prune` (pruning methods) call :func:`import_all` from
their ``__init__``, so a new family or method module registers itself by being in the package: no list of
module names to edit beside it. The modules are imported in name order, so registration (and with it the
order of :func:`nbprune.models.list_models`) does not depend on the file system.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

__all__ = ["import_all"]


def import_all(package: str, path: Iterable[str]) -> list[str]:
    """Import every module of ``package`` (found on ``path``, the package's ``__path__``) in name order and
    return their names. A module that fails to import raises, naming itself, as a plain import would."""
    names = sorted(m.name for m in pkgutil.iter_modules(list(path)))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
