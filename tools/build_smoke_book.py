#!/usr/bin/env python
"""Build the book at the smoke preset in its own tree: build/smoke-book/ -> build/smoke-book/_build/html.

The committed chapters in ``book/`` are never touched. This:

1. lays out ``<out>/`` as a copy of the book's sources: ``_config.yml``, ``_toc.yml`` and every file of
   ``book/`` that is not an executed notebook (``intro.md`` and any asset);
2. executes every chapter at ``--preset`` (default smoke) with tools/execute_notebooks.py into
   ``<out>/book/``, with an isolated run store ``<out>/store`` (kept between runs, so a re-run reads the
   trained runs back) and its intermediate notebooks in ``<out>/.work``;
3. builds the HTML with ``jupyter-book build -W -n --keep-going`` into ``<out>/_build/html`` (a fresh build:
   the old ``_build`` is removed first, so that -W sees every page's warnings).

    python tools/build_smoke_book.py [--out build/smoke-book] [--preset smoke] [--kernel nbprune] [--skip-execute]

Exit status: 0 when the book was built warning-free, else the failing step's status.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout(out: Path) -> None:
    """Copy the book's non-notebook sources into ``out`` (executed notebooks come from step 2)."""
    (out / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, out / name)
    for src in (ROOT / "book").iterdir():
        if src.name.startswith(".") or src.suffix == ".ipynb":
            continue
        dest = out / "book" / src.name
        if src.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)
        else:
            shutil.copy2(src, dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "smoke-book"), help="the book's tree (default: build/smoke-book)")
    ap.add_argument("--preset", default="smoke", help="preset the chapters run at (default: smoke)")
    ap.add_argument("--kernel", default="nbprune", help="Jupyter kernel name (default: nbprune)")
    ap.add_argument("--skip-execute", action="store_true", help="only re-render the notebooks already in <out>/book")
    args = ap.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    layout(out)
    t0 = time.perf_counter()
    if not args.skip_execute:
        cmd = [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--preset", args.preset,
               "--kernel", args.kernel, "--out", str(out / "book"), "--build", str(out / ".work"),
               "-p", "store", str(out / "store")]
        rc = subprocess.call(cmd, cwd=ROOT)
        if rc != 0:
            print(f"build_smoke_book: executing the chapters failed (exit {rc})", file=sys.stderr)
            return rc
    missing = [p for p in sorted((ROOT / "notebooks").glob("*.py"))
               if not p.name.startswith("_") and not (out / "book" / f"{p.stem}.ipynb").exists()]
    if missing:
        print(f"build_smoke_book: no executed notebook for {', '.join(p.stem for p in missing)} in {out / 'book'}",
              file=sys.stderr)
        return 1
    t1 = time.perf_counter()
    shutil.rmtree(out / "_build", ignore_errors=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    rc = subprocess.call([str(jb) if jb.exists() else "jupyter-book", "build", "-W", "-n", "--keep-going", str(out)],
                         cwd=ROOT)
    if rc != 0:
        print(f"build_smoke_book: jupyter-book build failed (exit {rc})", file=sys.stderr)
        return rc
    html = out / "_build" / "html"
    print(f"build_smoke_book: executed in {t1 - t0:.1f} s, rendered in {time.perf_counter() - t1:.1f} s -> "
          f"{html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
