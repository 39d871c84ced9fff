#!/usr/bin/env python
"""Prepare the committed book notebooks for nbval: book/<stem>.ipynb -> build/nbval/<stem>.ipynb.

The executed chapters in ``book/`` carry the reference outputs of the cells marked
``# NBVAL_CHECK_OUTPUT``. For every chapter script ``notebooks/<stem>.py`` this:

1. checks that ``book/<stem>.ipynb`` exists and that its code cells (the papermill injected-parameters
   cell aside) equal the script's after jupytext conversion; otherwise it fails with
   ``book/<stem>.ipynb is stale: run make book``;
2. re-injects the parameters ``preset=<--preset>`` and ``store=<out>/store`` with papermill (the other
   cells keep their outputs, which nbval compares against);
3. writes ``<out>/<stem>.ipynb``.

``pytest --nbval-lax build/nbval`` then re-runs every chapter at that preset and compares only the
check-output cells. Exit status: 0 when every chapter was prepared, 1 otherwise (also when there is none,
so that an empty nbval run can never pass).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INJECTED = "injected-parameters"


def code_sources(nb, skip_injected: bool = True) -> list[str]:
    """The sources of a notebook's code cells (trailing whitespace ignored)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if skip_injected and INJECTED in cell.get("metadata", {}).get("tags", []):
            continue
        out.append(cell.source.rstrip())
    return out


def first_difference(have: list[str], want: list[str]) -> str:
    """Where the book's code cells first differ from the script's, in words."""
    for i, (old, new) in enumerate(zip(have, want)):
        if old != new:
            old_lines, new_lines = old.splitlines(), new.splitlines()
            j = next((k for k, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b),
                     min(len(old_lines), len(new_lines)))
            line = new_lines[j] if j < len(new_lines) else "(fewer lines)"
            return f"code cell {i + 1}, line {j + 1} is now {line.strip()[:60]!r}"
    return f"{len(want)} code cells in the script, {len(have)} in the book"


def is_stale(book_nb, source_nb) -> str | None:
    """None when the book's code cells equal the script's, else a short reason."""
    have, want = code_sources(book_nb), code_sources(source_nb)
    if have == want:
        return None
    return first_difference(have, want)


def prepare(stem: str, notebooks_dir: Path, book_dir: Path, out_dir: Path, parameters: dict,
            kernel: str | None) -> None:
    """Check one chapter and write its nbval copy; raises SystemExit(one line) when it is stale."""
    import jupytext
    import nbformat
    from papermill.parameterize import parameterize_notebook

    book_path = book_dir / f"{stem}.ipynb"
    shown = f"{book_dir.name}/{stem}.ipynb"
    if not book_path.exists():
        raise SystemExit(f"{shown} is missing: run make book")
    source = jupytext.read(notebooks_dir / f"{stem}.py")
    book = nbformat.read(book_path, as_version=4)
    reason = is_stale(book, source)
    if reason is not None:
        raise SystemExit(f"{shown} is stale: run make book ({reason})")
    if kernel:
        book.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    book.metadata.setdefault("papermill", {})
    for cell in book.cells:  # papermill looks the parameters cell up by tag
        cell.metadata.setdefault("tags", [])
    book = parameterize_notebook(book, parameters, kernel_name=kernel, language="python")
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, out_dir / f"{stem}.ipynb")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="smoke", help="the preset nbval re-runs at (default: smoke)")
    ap.add_argument("--out", default="build/nbval", help="where the prepared notebooks go")
    ap.add_argument("--kernel", default=None, help="kernel name to record (default: keep the book's)")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="chapter scripts (default: notebooks/)")
    ap.add_argument("--book", default=str(ROOT / "book"), help="executed chapters (default: book/)")
    args = ap.parse_args(argv)

    notebooks_dir, book_dir, out_dir = Path(args.notebooks), Path(args.book), Path(args.out).resolve()
    stems = [p.stem for p in sorted(notebooks_dir.glob("*.py")) if not p.name.startswith("_")]
    if not stems:
        print(f"prepare_nbval: no chapter scripts in {notebooks_dir}; nothing for nbval to check", file=sys.stderr)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.ipynb"):  # a chapter that no longer exists must not be re-run
        old.unlink()
    parameters = {"preset": args.preset, "store": str(out_dir / "store")}
    failures = []
    for stem in stems:
        try:
            prepare(stem, notebooks_dir, book_dir, out_dir, parameters, args.kernel)
        except SystemExit as e:
            failures.append(str(e))
    for line in failures:
        print(line, file=sys.stderr)
    if failures:
        for stale in out_dir.glob("*.ipynb"):  # never let nbval run a partial set
            stale.unlink()
        return 1
    print(f"prepare_nbval: {len(stems)} notebook(s) -> {out_dir} (preset {args.preset})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
