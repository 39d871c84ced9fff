"""How nbprune reports what it does: through :mod:`logging`'s ``"nbprune"`` logger, never bare ``print``.

The library only logs; whoever runs it decides what is shown. ``nbprune`` (the CLI) and the book's notebooks
call :func:`show_log`, which prints the package's INFO messages (a chapter's "N runs: ... nothing trained",
each run trained, a curve's missing runs) as plain lines: on standard output in a notebook, on standard error
in the CLI (whose standard output is its result, e.g. ``--json``). A program importing nbprune sees its
warnings only, as :mod:`logging` does by default, unless it configures the logger itself.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("nbprune")


class _Stdout(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stdout`` (or ``sys.stderr``) is when a record is emitted (a
    Jupyter kernel and pytest replace them), each message as it is."""

    def __init__(self, stream: str = "stdout") -> None:
        self.which = stream
        super().__init__(getattr(sys, stream))
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = getattr(sys, self.which)  # not setStream: that flushes the previous one, maybe closed by now
        super().emit(record)


def show_log(level: int = logging.INFO, stream: str = "stdout") -> logging.Logger:
    """Print nbprune's messages at ``level`` and above on ``stream`` ("stdout" or "stderr"; once per process:
    a later call changes the level and the stream). The records still propagate to the root logger, so an
    application that configures logging itself receives them too. Returns the package logger."""
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream: must be 'stdout' or 'stderr', got {stream!r}")
    handler = next((h for h in LOGGER.handlers if isinstance(h, _Stdout)), None)
    if handler is None:
        LOGGER.addHandler(_Stdout(stream))
    else:
        handler.which = stream
    LOGGER.setLevel(level)
    return LOGGER
