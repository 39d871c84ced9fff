#!/usr/bin/env python
"""Execute the book's chapters: notebooks/<stem>.py -> build/<stem>.ipynb -> papermill -> book/<stem>.ipynb.

The chapters are jupytext percent scripts (the source of truth). papermill cannot read them, so each is
converted to ``build/<stem>.ipynb`` first, executed there with the given kernel and parameters
(``preset`` plus any ``-p key value``), and only a notebook that ran to the end replaces
``<out>/<stem>.ipynb`` (an atomic rename). The injected-parameters cell stays in the output, so every
chapter shows how it was run. A failing chapter stops the run: the exit status is 1 and the message
names the chapter and the error; the book's copy of that chapter is left as it was.

    python tools/execute_notebooks.py --preset cpu --kernel nbprune --out book [--only 01_predefined]
        [-p seeds "[0, 1]"] [-p device cpu]

With ``--results-store results/<preset>/store`` (what ``make book`` passes) the committed results (an export
of the run store without weights, :mod:`nbprune.store_io`) are imported into the run store first, so the
chapters train only the runs that are missing; after every chapter ran, the runs the chapters' result
files name are exported there again (replacing the earlier export). ``--fresh`` skips the import (``make book
FRESH=1`` also starts from an empty store): everything is trained.

``-p`` values are read as Python literals when they parse as one (``None``, ``3``, ``[0, 1]``,
``'cifar100'``), else kept as strings. The kernel's working directory is the repository root.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def literal(text: str):
    """A -p value: a Python literal when it is one, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def chapters(notebooks_dir: Path, only: list[str] | None) -> list[Path]:
    """The chapter scripts to run, in file-name order (``only``: those stems, in that order)."""
    found = {p.stem: p for p in sorted(notebooks_dir.glob("*.py")) if not p.name.startswith("_")}
    if not only:
        return list(found.values())
    wanted = [Path(n).stem for n in only]
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise SystemExit(f"execute_notebooks: unknown notebook(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(found)}")
    return [found[n] for n in wanted]


def to_ipynb(src: Path, dest: Path, kernel: str):
    """Convert a jupytext percent script to an .ipynb carrying the kernel's spec; returns the notebook."""
    import jupytext

    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)  # the .py stays the source; the book's copy is plain ipynb
    dest.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, dest, fmt="ipynb")
    return nb


def error_line(exc: BaseException) -> str:
    """One line saying what went wrong inside a notebook."""
    ename = getattr(exc, "ename", None)
    if ename:  # papermill.PapermillExecutionError: the notebook's own exception
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        cell = getattr(exc, "exec_count", None)
        where = f" (cell [{cell}])" if cell is not None else ""
        return f"{ename}: {evalue[0] if evalue else ''}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def execute(src: Path, out_dir: Path, build_dir: Path, kernel: str, parameters: dict,
            timeout: int | None) -> float:
    """Run one chapter; returns its wall time. Raises on failure (the book's copy is untouched)."""
    import papermill as pm
    from traitlets.config import Config

    stem = src.stem
    source_nb = build_dir / f"{stem}.ipynb"
    executed_nb = build_dir / f"{stem}.executed.ipynb"
    to_ipynb(src, source_nb, kernel)
    executed_nb.unlink(missing_ok=True)
    t0 = time.perf_counter()
    pm.execute_notebook(
        str(source_nb), str(executed_nb), parameters=parameters, kernel_name=kernel, cwd=str(ROOT),
        progress_bar=False, log_output=False, execution_timeout=timeout,
        # a local IPC transport: no TCP ports, and no "running over TCP without encryption" warning
        config=Config({"KernelManager": {"transport": "ipc"}}),
    )
    wall = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    os.replace(executed_nb, out_dir / f"{stem}.ipynb")  # same filesystem: atomic
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", required=True, help="smoke, quick, cpu or paper")
    ap.add_argument("--kernel", default="nbprune", help="Jupyter kernel name (default: nbprune)")
    ap.add_argument("--out", default="book", help="where executed notebooks go (default: book)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these chapters (stems)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="an extra notebook parameter (repeatable)")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"), help=argparse.SUPPRESS)
    ap.add_argument("--build", default=str(ROOT / "build"), help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    ap.add_argument("--results-store", default=None, metavar="DIR",
                    help="committed results (an export without weights): imported first, exported after")
    ap.add_argument("--fresh", action="store_true", help="with --results-store: do not import, only export")
    args = ap.parse_args(argv)

    try:  # a typo in the preset fails before any kernel starts
        from nbprune.presets import get_preset

        get_preset(args.preset)
    except ValueError as e:
        print(f"execute_notebooks: {e}", file=sys.stderr)
        return 2
    parameters = {"preset": args.preset}
    for key, value in args.parameter:
        parameters[key] = literal(value)
    out_dir = Path(args.out)
    if not out_dir.is_absolute():
        out_dir = Path.cwd() / out_dir
    todo = chapters(Path(args.notebooks), args.only)
    if not todo:
        print(f"execute_notebooks: no notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    if args.results_store and not args.fresh:
        try:
            import_results(Path(args.results_store))
        except Exception as exc:  # noqa: BLE001 - one line, nothing executed
            print(f"execute_notebooks: {error_line(exc)}", file=sys.stderr)
            return 2
    shown = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
    print(f"executing {len(todo)} notebook(s) with kernel {args.kernel!r}, parameters {shown}", flush=True)
    total = 0.0
    for src in todo:
        print(f"  {src.stem:<24} ...", end="", flush=True)
        try:
            wall = execute(src, out_dir, Path(args.build), args.kernel, parameters, args.timeout)
        except KeyboardInterrupt:
            print(" interrupted", flush=True)
            return 130
        except Exception as exc:  # noqa: BLE001 - report any failure as one line
            print(" FAILED", flush=True)
            print(f"execute_notebooks: {src.stem} failed: {error_line(exc)}", file=sys.stderr)
            print(f"execute_notebooks: the partly executed notebook is {Path(args.build) / (src.stem + '.executed.ipynb')}; "
                  f"{out_dir.name}/{src.stem}.ipynb was left unchanged", file=sys.stderr)
            return 1
        total += wall
        print(f" {wall:7.1f} s -> {out_dir.name}/{src.stem}.ipynb", flush=True)
    print(f"done: {len(todo)} notebook(s) in {total:.1f} s", flush=True)
    from nbprune.runner import verdict_markdown

    verdicts = out_dir / "_verdicts.md"  # the intro page includes it: the claims with this preset's verdicts
    tmp = verdicts.with_suffix(".tmp")
    tmp.write_text(f"Preset `{args.preset}`; differences in accuracy points (final epoch), ours as the mean over "
                   "seeds with its 95% interval.\n\n" + verdict_markdown(args.preset) + "\n")
    os.replace(tmp, verdicts)
    from nbprune.runner import verdict_figure

    ax = verdict_figure(args.preset)  # the intro shows it under the table
    if ax is not None:
        png = out_dir / "_static" / "verdicts.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        ax.figure.savefig(png.with_suffix(".tmp.png"), dpi=110, bbox_inches="tight")
        os.replace(png.with_suffix(".tmp.png"), png)
    if args.results_store:
        export_results(Path(args.results_store), args.preset)
    return 0


def import_results(source: Path) -> None:
    """Import the committed results at ``source`` (if there are any) into the run store the chapters use."""
    from nbprune.runs import RunStore
    from nbprune.store_io import describe_import, import_runs

    store = RunStore(None)
    if not (source / "manifest.json").exists():
        print(f"no committed results in {source}: every run is trained", flush=True)
        return
    from nbprune.data import load_cifar

    t0 = time.time()
    sha = load_cifar("cifar10").describe()["sha256"]  # a result made from other data is refused
    res = import_runs(source, store, data_sha256={"cifar10": sha})
    print(f"committed results {source} -> store {store.path}: {describe_import(res)[0]} ({time.time() - t0:.1f} s); "
          "the chapters train only what is missing", flush=True)


def export_results(out: Path, preset: str) -> None:
    """Export the runs the chapters' result files name (run ids of ``results/<preset>/*.csv``) to ``out``."""
    import csv

    from nbprune.presets import get_preset
    from nbprune.runs import RunStore
    from nbprune.runner import results_path
    from nbprune.store_io import export_runs

    folder = results_path("x", get_preset(preset)).parent
    ids: dict[str, None] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open() as f:
            ids.update((row["run_id"], None) for row in csv.DictReader(f) if row.get("run_id"))
    res = export_runs(RunStore(None), out, list(ids))
    kept = f"; {res.kept} plan summaries kept from the earlier export of the same results" if res.kept else ""
    print(f"exported {len(res.run_ids)} run(s) to {out} ({res.bytes / 1e6:.2f} MB, no weights){kept}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
