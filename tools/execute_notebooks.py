#!/usr/bin/env python
"""Execute the book's chapters: notebooks/<stem>.py -> build/<stem>.ipynb -> papermill -> book/<stem>.ipynb.

The chapters are jupytext percent scripts (the source of truth). papermill cannot read them, so each is
converted to ``build/<stem>.ipynb`` first, executed there with the given kernel and parameters
(``preset`` plus any ``-p key value``), and only a notebook that ran to the end replaces
``<out>/<stem>.ipynb`` (an atomic replace, and only when its normalised bytes differ). The injected-parameters
cell stays in the notebook, tagged ``remove-cell``: the book leaves it out, and each chapter's run box says how
it was run. A failing chapter stops the run: the exit status is 1 and the message names the chapter and the
error; the book's copy of that chapter is left as it was.

    python tools/execute_notebooks.py --preset cpu --kernel nbprune --out book [--only 01_predefined]
        [-p seeds "[0, 1]"] [-p device cpu] [--replace-committed] [--curve]

With ``--results-store results/<preset>/store`` (what ``make book`` passes) the committed results (an export
of the run store without weights, :mod:`nbprune.store_io`) are imported into the run store first, so the
chapters train only the runs that are missing; after every chapter ran, the runs the chapters' result
files name are exported there again (replacing the earlier export). ``--fresh`` skips the import (``make book
FRESH=1`` also starts from an empty store): everything is trained. While a run of that export is unfinished in
the run store (being trained again, e.g. a large model replayed for its weights) nothing executes: exit status
2 and one line naming it, since the chapters would leave it out and the export would drop it.

``--curve`` (``make book CURVE=1``) trains the budget curves' missing runs: ``train_curve=True`` in each chapter
that has a curve (chapters 1, 2 and 5). Without it a curve trains only at a preset whose ``train_curves`` is set
(``smoke``): ``make book PRESET=paper`` trains the paper's rows and no curve (the curve is the CPU's way toward
the paper's regime, about a quarter more GPU time that the paper does not spend).

``-p`` values are read as Python literals when they parse as one (``None``, ``3``, ``[0, 1]``,
``'cifar100'``), else kept as strings. The kernel's working directory is the repository root. A ``-p`` name
that a chapter's parameters cell (the cell tagged ``parameters``) does not assign is an error of one line
naming it and the allowed names, exit status 2, before anything runs.

Re-runs never overwrite the committed book. A run is *committed* when ``--out`` is the book (``book/``) and
every parameter (``--preset`` and each ``-p``) equals the value in each executed chapter's parameters cell
(``preset = "cpu"``, ``seeds = None``, ...): only then are ``book/<stem>.ipynb``, ``results/<preset>/``
(``$NBPRUNE_RESULTS``, which :func:`nbprune.runner.results_path` reads in the kernel), ``book/_verdicts.md``,
``book/_static/verdicts.png`` and the ``--results-store`` export written. Any other run with ``--out book``
goes to ``build/rerun/<preset>/`` instead (notebooks, ``_verdicts.md``, ``_static/verdicts.png``, and the
results under ``build/rerun/<preset>/results/<preset>/``); a run with another ``--out`` writes there, its
results under ``<out>/results/``. ``--replace-committed`` writes ``--out`` and ``results/`` whatever the
parameters. One line says where the outputs go.

Executed notebooks are normalised so that re-executing an unchanged chapter gives the same bytes: papermill's
and nbclient's timings and paths are dropped from the metadata, cell ids are derived from each cell's type and
source, and paths under the repository (home) directory in text outputs are written ``./...`` (``~/...``). A
notebook whose normalised bytes equal the file already there is not rewritten (nor are the verdict table and
figure). The last line sums what the chapters trained (their "N runs: ..." lines).
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import io
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_LITERAL = object()  # a parameters-cell value that is not a literal: never equal to a -p value
# what papermill writes that changes from run to run or names this machine (notebook level, then cell level)
VOLATILE_NOTEBOOK = ("duration", "start_time", "end_time", "input_path", "output_path", "environment_variables")
VOLATILE_CELL = ("duration", "start_time", "end_time")
# a chapter's count of runs (nbprune.runner.run_chapter prints it)
RUNS_LINE = re.compile(r"^(\d+) runs: (?:(\d+) trained now, \d+ read from the store|all read from the store, "
                       r"nothing trained)\s*$", re.M)


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


@functools.cache
def declared_parameters(src: Path) -> dict[str, object]:
    """The names a chapter's parameters cell (tagged ``parameters``) assigns, with their literal values
    (:data:`NOT_LITERAL` for an expression); empty when it has no such cell."""
    import jupytext

    out: dict[str, object] = {}
    for cell in jupytext.read(src).cells:
        if cell.cell_type != "code" or "parameters" not in cell.metadata.get("tags", []):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            try:
                default = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError):
                default = NOT_LITERAL
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        out[name.id] = default
    return out


def check_parameters(todo: list[Path], given: dict[str, object]) -> str | None:
    """None when every chapter in ``todo`` declares every name in ``given``, else the one-line error."""
    if "preset" in given:
        return "-p preset: give the preset with --preset"
    for src in todo:
        declared = declared_parameters(src)
        unknown = [k for k in given if k not in declared]
        if unknown:
            allowed = ", ".join(declared) or "none (it has no cell tagged parameters)"
            return f"unknown parameter {unknown[0]!r} for {src.stem}; allowed: {allowed}"
    return None


def overrides(todo: list[Path], parameters: dict[str, object]) -> list[str]:
    """The parameters that differ from some chapter's parameters cell (``name=value``): a run with none is the
    committed book's."""
    out = []
    for key, value in parameters.items():
        if any(declared_parameters(src).get(key, NOT_LITERAL) != value for src in todo):
            out.append(f"{key}={value!r}")
    return out


def unpath(text, replacements):
    """``text`` (a string or a list of lines) with each machine path prefix replaced (``/repo/x`` -> ``./x``)."""
    if isinstance(text, list):
        return [unpath(t, replacements) for t in text]
    if not isinstance(text, str):
        return text
    for pattern, short in replacements:
        text = pattern.sub(short, text)
    return text


def path_replacements() -> list[tuple[re.Pattern, str]]:
    """The repository, then the home directory, as prefixes to shorten in text outputs."""
    out = []
    for prefix, short in ((ROOT, "."), (Path.home(), "~")):
        text = str(prefix)
        if len(text) > 1:  # never "/"
            out.append((re.compile(re.escape(text) + r"(?![\w.-])"), short))
    return out


def normalise(nb):
    """Make an executed notebook depend only on its inputs and outputs: drop papermill's and nbclient's timings
    and paths, derive cell ids from each cell's type and source, shorten machine paths in text outputs."""
    meta = nb.metadata.get("papermill")
    if isinstance(meta, dict):
        for key in VOLATILE_NOTEBOOK:
            meta.pop(key, None)
    replacements = path_replacements()
    seen: dict[str, int] = {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            # the HTML leaves papermill's cell out (it can name this machine's store); the .ipynb keeps it
            cell.metadata["tags"] = [*tags, "remove-cell"]
        cell.metadata.pop("execution", None)  # nbclient's iopub/shell timestamps
        cell_meta = cell.metadata.get("papermill")
        if isinstance(cell_meta, dict):
            for key in VOLATILE_CELL:
                cell_meta.pop(key, None)
        if (nb.nbformat, nb.nbformat_minor) >= (4, 5):  # cell ids exist from nbformat 4.5 on
            digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:12]
            seen[digest] = seen.get(digest, 0) + 1
            cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        if "outputs" in cell:
            cell["outputs"] = merge_streams(cell["outputs"])
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = unpath(output["text"], replacements)
            if "traceback" in output:
                output["traceback"] = unpath(output["traceback"], replacements)
            data = output.get("data", {})
            for mime in list(data):
                if mime.startswith("text/"):
                    data[mime] = unpath(data[mime], replacements)
    return nb


def merge_streams(outputs: list) -> list:
    """A cell's outputs with each run of consecutive stream outputs of one name (stdout, stderr) joined into
    one, as a notebook front end shows them: how a cell's prints were split into messages depends on when
    the kernel flushed, so the same cell could otherwise give different bytes from one execution to the next."""
    out = []
    for output in outputs:
        prev = out[-1] if out else None
        if (output.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == output.get("name")):
            join = ["".join(t) if isinstance(t, list) else t for t in (prev.get("text", ""), output.get("text", ""))]
            prev["text"] = "".join(join)
            continue
        out.append(output)
    return out


def trained_counts(nb) -> tuple[int, int] | None:
    """(runs, trained now) summed over a notebook's "N runs: ..." lines; None when it has none."""
    runs = trained = 0
    found = False
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream" or output.get("name") != "stdout":
                continue
            text = output.get("text", "")
            for m in RUNS_LINE.finditer("".join(text) if isinstance(text, list) else text):
                found = True
                runs += int(m.group(1))
                trained += int(m.group(2) or 0)
    return (runs, trained) if found else None


def summary_line(counts: dict[str, tuple[int, int]]) -> str:
    """One line: what the chapters trained, from their run counts. Each chapter counts the runs it uses, and
    chapters share runs (chapter 5 uses chapter 1's large models), so the sum counts a shared run in every chapter
    that uses it: the line says "chapter runs", not distinct runs."""
    if not counts:
        return "trained: no chapter reported its runs"
    runs = sum(r for r, _ in counts.values())
    trained = {stem: t for stem, (_, t) in counts.items() if t}
    if not trained:
        return (f"trained: nothing ({runs} chapter runs over {len(counts)} chapter(s), all read from the store; "
                "a run two chapters share counts in both)")
    each = ", ".join(f"{stem} {t}" for stem, t in trained.items())
    return (f"trained: {sum(trained.values())} run(s) now ({each}); {runs - sum(trained.values())} chapter runs "
            f"read from the store, over {len(counts)} chapter(s)")


def write_if_changed(data: bytes, dest: Path) -> bool:
    """Atomically replace ``dest`` with ``data`` unless it already holds exactly that; True when written."""
    try:
        if dest.read_bytes() == data:
            return False
    except OSError:
        pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)  # the same folder: atomic
    return True


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


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
            timeout: int | None) -> tuple[float, bool, object]:
    """Run one chapter; returns its wall time, whether ``<out_dir>/<stem>.ipynb`` changed and the executed
    (normalised) notebook. Raises on failure (the book's copy is untouched)."""
    import nbformat
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
    nb = normalise(nbformat.read(executed_nb, as_version=4))
    text = nbformat.writes(nb)
    changed = write_if_changed((text if text.endswith("\n") else text + "\n").encode(), out_dir / f"{stem}.ipynb")
    executed_nb.unlink()
    return wall, changed, nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", required=True, help="smoke, quick, cpu or paper")
    ap.add_argument("--kernel", default="nbprune", help="Jupyter kernel name (default: nbprune)")
    ap.add_argument("--out", default=str(ROOT / "book"),
                    help="where executed notebooks go (default: book; a re-run with other parameters goes to "
                         "build/rerun/<preset> instead, see --replace-committed)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these chapters (stems)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="an extra notebook parameter (repeatable); the name must be in the parameters cell")
    ap.add_argument("--replace-committed", action="store_true",
                    help="write --out (book/) and results/<preset>/ even when the parameters differ from the "
                         "chapters' own (the committed book's)")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"), help=argparse.SUPPRESS)
    ap.add_argument("--build", default=str(ROOT / "build"), help=argparse.SUPPRESS)
    ap.add_argument("--book", default=str(ROOT / "book"), help=argparse.SUPPRESS)  # the committed book
    ap.add_argument("--results", default=None, help=argparse.SUPPRESS)  # its results: $NBPRUNE_RESULTS, results
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    ap.add_argument("--results-store", default=None, metavar="DIR",
                    help="committed results (an export without weights): imported first, exported after")
    ap.add_argument("--fresh", action="store_true", help="with --results-store: do not import, only export")
    ap.add_argument("--curve", action="store_true",
                    help="train the budget curves' missing runs (train_curve=True in the chapters that have one; "
                         "make book CURVE=1); without it a curve trains only where its preset says (smoke)")
    args = ap.parse_args(argv)

    try:  # a typo in the preset fails before any kernel starts
        from nbprune.presets import get_preset

        get_preset(args.preset)
    except ValueError as e:
        print(f"execute_notebooks: {e}", file=sys.stderr)
        return 2
    given = {key: literal(value) for key, value in args.parameter}
    parameters = {"preset": args.preset, **given}
    todo = chapters(Path(args.notebooks), args.only)
    if not todo:
        print(f"execute_notebooks: no notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    problem = check_parameters(todo, given)  # a misspelt -p name fails before anything runs
    if problem:
        print(f"execute_notebooks: {problem}", file=sys.stderr)
        return 2

    # where the outputs go: the committed book and results only for the committed parameters
    out_dir = Path(args.out).expanduser().absolute()
    book = Path(args.book).expanduser().absolute()
    committed_results = Path(args.results or os.environ.get("NBPRUNE_RESULTS") or "results")
    committed_results = committed_results if committed_results.is_absolute() else ROOT / committed_results
    differ = overrides(todo, parameters) + (["train_curve=True"] if args.curve else [])
    if args.replace_committed or (out_dir.resolve() == book.resolve() and not differ):
        results_root = committed_results
        why = ("--replace-committed, with parameters other than the chapters' own: " + ", ".join(differ)
               if differ else "the committed book: the chapters' own parameters")
    else:
        if out_dir.resolve() == book.resolve():
            out_dir = Path(args.build).expanduser().absolute() / "rerun" / args.preset
        results_root = out_dir / "results"
        why = (f"not {shown(book)}/ nor {shown(committed_results / args.preset)}/: " +
               ("parameters other than the chapters' own: " + ", ".join(differ) +
                "; --replace-committed writes there" if differ else "--out is not the committed book"))
        calibration = committed_results / "calibration.csv"  # an input the environment appendix shows
        if calibration.exists():
            results_root.mkdir(parents=True, exist_ok=True)
            shutil.copy2(calibration, results_root / "calibration.csv")
    os.environ["NBPRUNE_RESULTS"] = str(results_root)  # the kernels inherit it: nbprune.runner.results_path
    export_to = None
    if args.results_store:
        export_to = Path(args.results_store) if results_root == committed_results else \
            results_root / args.preset / "store"
    print(f"outputs: {shown(out_dir)}/ (notebooks, _verdicts.md, _run_summary.md, _static/verdicts.png) and "
          f"{shown(results_root / args.preset)}/ ({why})", flush=True)

    if args.results_store and not args.fresh:
        try:
            import_results(Path(args.results_store))
        except Exception as exc:  # noqa: BLE001 - one line, nothing executed
            print(f"execute_notebooks: {error_line(exc)}", file=sys.stderr)
            return 2
    if export_to is not None and (training := training_again(export_to)):
        print(f"execute_notebooks: --results-store {shown(export_to)}: run {training[0]} "
              + (f"(and {len(training) - 1} more) " if len(training) > 1 else "")
              + "is being trained again in the run store (unfinished); the chapters would leave it out and the "
              "export would drop it: run this when it has finished. Nothing executed", file=sys.stderr)
        return 2
    listed = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
    print(f"executing {len(todo)} notebook(s) with kernel {args.kernel!r}, parameters {listed}", flush=True)
    total = 0.0
    counts: dict[str, tuple[int, int]] = {}
    for src in todo:
        print(f"  {src.stem:<24} ...", end="", flush=True)
        try:
            wall, changed, nb = execute(src, out_dir, Path(args.build), args.kernel, curve_parameters(src, parameters,
                                                                                               args.curve), args.timeout)
        except KeyboardInterrupt:
            print(" interrupted", flush=True)
            print(summary_line(counts), flush=True)
            return 130
        except Exception as exc:  # noqa: BLE001 - report any failure as one line
            print(" FAILED", flush=True)
            print(f"execute_notebooks: {src.stem} failed: {error_line(exc)}", file=sys.stderr)
            print(f"execute_notebooks: the partly executed notebook is {Path(args.build) / (src.stem + '.executed.ipynb')}; "
                  f"{shown(out_dir / (src.stem + '.ipynb'))} was left unchanged", file=sys.stderr)
            print(summary_line(counts), flush=True)
            return 1
        total += wall
        note = "" if changed else " (unchanged)"
        if (c := trained_counts(nb)) is not None:
            counts[src.stem] = c
            note += f"; {c[0]} runs, " + (f"{c[1]} trained now" if c[1] else "nothing trained")
        print(f" {wall:7.1f} s -> {shown(out_dir / (src.stem + '.ipynb'))}{note}", flush=True)
    print(f"done: {len(todo)} notebook(s) in {total:.1f} s", flush=True)
    if export_to is not None:  # first: the intro's run summary below reads the runs' records from this export
        export_results(export_to, args.preset, results_root)
    from nbprune.book import verdict_figure, verdict_markdown

    # the intro page includes the table: the claims with this preset's verdicts, from these results only
    write_if_changed((verdict_markdown(args.preset, str(results_root)) + "\n")
                     .encode(), out_dir / "_verdicts.md")
    from nbprune.run_summary import run_summary

    # the intro's paragraph on what the runs were (count, dates, device, cost, the unpruned models' accuracy)
    write_if_changed((run_summary(args.preset, str(results_root)) + "\n").encode(), out_dir / "_run_summary.md")
    ax = verdict_figure(args.preset, str(results_root))  # the intro shows it under the table
    if ax is not None:
        png = io.BytesIO()
        ax.figure.savefig(png, format="png", dpi=110, bbox_inches="tight")
        write_if_changed(png.getvalue(), out_dir / "_static" / "verdicts.png")
    print(summary_line(counts), flush=True)
    return 0


def curve_parameters(src: Path, parameters: dict, curve: bool) -> dict:
    """``parameters`` for the chapter ``src``, with ``train_curve=True`` where ``curve`` is set and the chapter's
    parameters cell has ``train_curve`` (the chapters with a budget curve; the others run as they are)."""
    if curve and "train_curve" in declared_parameters(src):
        return {**parameters, "train_curve": True}
    return parameters


def training_again(export: Path) -> list[str]:
    """Runs of the export at ``export`` that the chapters' run store holds unfinished (being trained again)."""
    from nbprune.runs import RunStore
    from nbprune.store_io import unfinished_in_store

    return unfinished_in_store(RunStore(None), export)


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


def export_results(out: Path, preset: str, results_root: Path | None = None) -> None:
    """Export the runs the chapters' result files name (run ids of ``<results_root>/<preset>/*.csv``; default
    ``$NBPRUNE_RESULTS``, else ``results``) to ``out``."""
    import csv

    from nbprune.presets import get_preset
    from nbprune.runner import results_path
    from nbprune.runs import RunStore
    from nbprune.store_io import export_runs

    folder = results_path("x", get_preset(preset), root=results_root).parent
    ids: dict[str, None] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open() as f:
            ids.update((row["run_id"], None) for row in csv.DictReader(f) if row.get("run_id"))
    res = export_runs(RunStore(None), out, list(ids))
    kept = f"; {res.kept} plan summaries kept from the earlier export of the same results" if res.kept else ""
    print(f"exported {len(res.run_ids)} run(s) to {out} ({res.bytes / 1e6:.2f} MB, no weights){kept}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
