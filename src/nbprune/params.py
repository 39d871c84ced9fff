"""Parameters that users type: notebook parameters given as strings, and command-line numbers.

``papermill -p targets '["resnet56-b"]'`` hands a chapter the *string* ``'["resnet56-b"]'``. Every list or
mapping parameter's validator first passes its value through :func:`parse_param`: a string that parses as
JSON (or YAML, when PyYAML is installed) into the expected kind is accepted; any other string gets one line
that says how to pass the value with papermill's ``-y`` (YAML) option instead.

:func:`int_arg` and :func:`width_arg` are the argparse ``type=`` validators that the ``nbprune`` command and
``nbprune bench`` share: a bad value is one line naming the option and what it allows (argparse exits 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

KINDS = {list: "list", dict: "mapping"}


def parse_text(text: str) -> Any:
    """``text`` parsed as JSON, else as YAML (PyYAML's safe loader, if installed); the text itself if neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_param(name: str, value: Any, kind: type, example: str) -> Any:
    """``value`` unchanged unless it is a string; a string that parses (JSON or YAML) as a ``kind`` (list or
    dict) becomes that value. Any other string raises ValueError in one line naming ``name`` and showing how
    to pass it, e.g. ``-y 'targets: [resnet56-b]'`` for ``example="[resnet56-b]"``."""
    if not isinstance(value, str):
        return value
    parsed = parse_text(value)
    if isinstance(parsed, kind):
        return parsed
    what = KINDS.get(kind, kind.__name__)
    raise ValueError(f"{name}: must be a {what}, got the string {value!r}; give a {what} such as {example} "
                     f"(with papermill: -y '{name}: {example}')")


def slurm_options(value: Any) -> dict:
    """The chapters' ``slurm`` parameter as the keyword options of :func:`nbprune.executors.make_executor`:
    a mapping, or a string that parses as one (None: no options)."""
    value = parse_param("slurm", {} if value is None else value, dict, "{partition: gpu, gpus: 1}")
    if not isinstance(value, dict):
        raise ValueError(f"slurm: must be a mapping of executor options, got {value!r}; give a mapping such as "
                         "{partition: gpu, gpus: 1} (with papermill: -y 'slurm: {partition: gpu, gpus: 1}')")
    return value


def int_arg(name: str, minimum: int = 0) -> Callable[[str], int]:
    """An argparse ``type=``: the text as an int >= ``minimum``; else one line naming option ``name``."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {v}")
        return v
    return parse


def width_arg(name: str = "width") -> Callable[[str], float]:
    """An argparse ``type=``: the text as a width multiplier in (0, 4]; else one line naming option ``name``."""
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in (0, 4], got {s!r}") from None
        if not 0 < v <= 4:
            raise argparse.ArgumentTypeError(f"{name} must be a number in (0, 4], got {v}")
        return v
    return parse
