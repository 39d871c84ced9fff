"""How nbprune reports what it does: through :mod:`logging`'s ``"nbprune"`` logger, never bare ``print``.

The library only logs; whoever runs it decides what is shown. ``nbprune`` (the CLI) and the book's notebooks
call :func:`show_log`, which prints the package's INFO messages (a chapter's "N runs: ... nothing trained",
each run trained, a curve's missing runs) as plain lines on standard output; a program importing nbprune sees
its warnings only, as :mod:`logging` does by default, unless it configures the logger itself.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("nbprune")


class _Stdout(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stdout`` is when a record is emitted (a Jupyter kernel replaces
    it per cell), each message as it is."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout  # not setStream: that flushes the previous stream, which may be closed by now
        super().emit(record)


def show_log(level: int = logging.INFO) -> logging.Logger:
    """Print nbprune's messages at ``level`` and above on standard output (once per process: a second call
    only changes the level). The records still propagate to the root logger, so an application that
    configures logging itself receives them too. Returns the package logger."""
    if not any(isinstance(h, _Stdout) for h in LOGGER.handlers):
        LOGGER.addHandler(_Stdout())
    LOGGER.setLevel(level)
    return LOGGER
