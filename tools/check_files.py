#!/usr/bin/env python
"""File hygiene for pre-commit (.pre-commit-config.yaml), offline: each file given ends with exactly one
newline, and each ``.toml`` / ``.yml`` / ``.yaml`` file parses. Prints one line per problem; exit status 1
when there is any.

    python tools/check_files.py FILE...
"""

from __future__ import annotations

import sys
from pathlib import Path


def problems(path: Path) -> list[str]:
    data = path.read_bytes()
    out = []
    if data and not data.endswith(b"\n"):
        out.append("no newline at the end")
    elif data.endswith(b"\n\n"):
        out.append("blank lines at the end")
    try:
        if path.suffix == ".toml":
            import tomllib  # Python 3.11+

            tomllib.loads(data.decode())
        elif path.suffix in (".yml", ".yaml"):
            import yaml

            yaml.safe_load(data)
    except Exception as e:  # noqa: BLE001 - any parse error is the report
        out.append(f"does not parse: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return out


def main(argv: list[str]) -> int:
    bad = 0
    for name in argv:
        for problem in problems(Path(name)):
            print(f"{name}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
