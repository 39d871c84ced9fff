"""Fast checks of the book's plumbing: chapter scripts, table of contents, and the nbval preparation.

No chapter is executed here (that is `make nbval`); the one kernel start below runs a two-cell notebook.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
REQUIRED = {"preset", "dataset", "seeds", "device", "data_root", "store"}


def tagged(nb, tag):
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def assigned_names(source: str) -> dict[str, object]:
    """Names assigned in a parameters cell, with their literal values."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_with_the_required_names(path):
    nb = jupytext.read(path)
    cells = tagged(nb, "parameters")
    assert len(cells) == 1, f"{path.name}: {len(cells)} parameters cells"
    params = assigned_names(cells[0].source)
    assert REQUIRED <= set(params), f"{path.name}: missing {sorted(REQUIRED - set(params))}"
    assert params["preset"] == "cpu" and params["dataset"] == "cifar10"
    assert params["seeds"] is None and params["device"] == "auto"
    assert params["data_root"] is None and params["store"] is None


@pytest.mark.parametrize("preset", ["smoke", "quick", "cpu", "paper"])
def test_every_chapter_grid_names_registered_models_and_methods(preset):
    from nbprune.chapters import CHAPTERS, chapter_grid
    from nbprune.models import list_models
    from nbprune.prune import list_methods

    for chapter in CHAPTERS:
        grid = chapter_grid(chapter, preset)
        assert grid, chapter
        for exp in grid:
            # a large model trained alone (a curve's doubled reference, Table 10's unpruned models) prunes nothing
            assert exp.model in list_models() and (exp.method in list_methods() or not exp.variants), (chapter, exp)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_has_a_checked_cell_and_no_training_code(path):
    text = path.read_text()
    assert "# NBVAL_CHECK_OUTPUT" in text, f"{path.name}: no cell is checked by nbval"
    for forbidden in ("optim.SGD", ".backward(", "nn.Module)"):
        assert forbidden not in text, f"{path.name}: training logic belongs in nbprune ({forbidden})"


def test_toc_lists_exactly_the_notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    assert toc["root"] == "book/intro" and (ROOT / "book" / "intro.md").exists()
    files = [entry["file"] for entry in toc["chapters"]]
    assert all(f.startswith("book/") for f in files), files
    pages = {f.removeprefix("book/") for f in files if (ROOT / f"{f}.md").exists()}  # static pages (no notebook)
    assert sorted(f.removeprefix("book/") for f in files if f.removeprefix("book/") not in pages) == \
        sorted(p.stem for p in NOTEBOOKS)
    assert all(not (ROOT / "notebooks" / f"{p}.py").exists() for p in pages)
    assert len(files) == len(set(files))


def test_no_ipynb_under_notebooks():
    assert not list((ROOT / "notebooks").rglob("*.ipynb"))


def test_config_renders_stored_outputs_only():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    assert config["author"] == "nbprune contributors"


# --------------------------------------------------------------------------------- tools/prepare_nbval.py
SCRIPT = """# %% tags=["parameters"]
preset = "quick"

# %%
# NBVAL_CHECK_OUTPUT
print(6 * 7)
"""


def make_book(tmp_path: Path, script: str) -> tuple[Path, Path]:
    """notebooks/ch.py and a fake executed book/ch.ipynb made from it (parameters injected, outputs set)."""
    from papermill.parameterize import parameterize_notebook

    nbdir, bookdir = tmp_path / "notebooks", tmp_path / "book"
    nbdir.mkdir()
    bookdir.mkdir()
    (nbdir / "ch.py").write_text(script)
    nb = jupytext.read(nbdir / "ch.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["papermill"] = {}
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb = parameterize_notebook(nb, {"preset": "paper"})
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nbformat.write(nb, bookdir / "ch.ipynb")
    return nbdir, bookdir


def run_prepare(tmp_path: Path, nbdir: Path, bookdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "prepare_nbval.py"), "--preset", "smoke", "--out",
         str(tmp_path / "out"), "--notebooks", str(nbdir), "--book", str(bookdir)],
        capture_output=True, text=True, timeout=120,
    )


def test_prepare_nbval_reinjects_the_preset_and_keeps_outputs(tmp_path):
    nbdir, bookdir = make_book(tmp_path, SCRIPT)
    proc = run_prepare(tmp_path, nbdir, bookdir)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(tmp_path / "out" / "ch.ipynb", as_version=4)
    injected = tagged(nb, "injected-parameters")
    assert len(injected) == 1 and 'preset = "smoke"' in injected[0].source
    assert "paper" not in injected[0].source
    assert nb.cells[-1].outputs[0]["text"] == "42\n"


def test_prepare_nbval_detects_a_stale_book_notebook(tmp_path):
    nbdir, bookdir = make_book(tmp_path, SCRIPT)
    (nbdir / "ch.py").write_text(SCRIPT.replace("6 * 7", "7 * 6"))
    proc = run_prepare(tmp_path, nbdir, bookdir)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("book/ch.ipynb is stale: run make book"), proc.stderr
    assert not list((tmp_path / "out").glob("*.ipynb"))


def test_prepare_nbval_fails_without_chapters_or_book(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_prepare(tmp_path, empty, empty).returncode == 1  # nothing prepared: never let nbval pass
    nbdir, bookdir = make_book(tmp_path, SCRIPT)
    (bookdir / "ch.ipynb").unlink()
    proc = run_prepare(tmp_path, nbdir, bookdir)
    assert proc.returncode == 1 and "book/ch.ipynb is missing: run make book" in proc.stderr


# ----------------------------------------------------------------------------- tools/execute_notebooks.py
def kernel_available(name: str) -> bool:
    from jupyter_client.kernelspec import find_kernel_specs

    return name in find_kernel_specs()


@pytest.mark.slow
@pytest.mark.skipif(not kernel_available("nbprune"), reason="the nbprune kernel is not installed (make venv)")
def test_execute_notebooks_failure_leaves_the_book_untouched(tmp_path):
    nbdir, out, build = tmp_path / "notebooks", tmp_path / "book", tmp_path / "build"
    nbdir.mkdir()
    out.mkdir()
    (nbdir / "bad.py").write_text('# %% tags=["parameters"]\npreset = "quick"\n\n# %%\nraise ValueError("boom")\n')
    (out / "bad.ipynb").write_text("previous")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--preset", "smoke", "--kernel", "nbprune",
         "--out", str(out), "--notebooks", str(nbdir), "--build", str(build)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    )
    assert proc.returncode == 1
    assert "bad failed: ValueError: boom" in proc.stderr
    assert (out / "bad.ipynb").read_text() == "previous"


def test_execute_notebooks_rejects_unknown_names():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--preset", "smoke", "--only", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0 and "unknown notebook(s) nope" in proc.stderr


def test_every_chapter_record_has_its_notebook_and_toc_entry_and_one_runner_call():
    from nbprune.chapters import CHAPTERS

    toc = [e["file"].removeprefix("book/") for e in yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]]
    pages = [c.page for c in CHAPTERS.values()]
    assert [p for p in toc if p in pages] == pages  # in the records' order
    for c in CHAPTERS.values():
        text = (ROOT / "notebooks" / f"{c.page}.py").read_text()
        calls = re.findall(r"run_chapter\(\"(\w+)\", preset, (\w+),", text)
        assert calls == [(c.name, c.parameter)], (c.page, calls)
        params = assigned_names(tagged(jupytext.read(ROOT / "notebooks" / f"{c.page}.py"), "parameters")[0].source)
        assert c.parameter in params, (c.page, c.parameter)


# ------------------------------------------------- tools/execute_notebooks.py: re-runs beside the committed book
# A chapter-like notebook: its parameters cell is the "committed" one (preset cpu, no seeds); it writes its results
# where nbprune.runner.results_path says (so $NBPRUNE_RESULTS, as the chapters do) and prints a chapter's run count.
CHAPTER = '''# %% tags=["parameters"]
preset = "cpu"
seeds = None

# %%
import os
from nbprune.runner import results_path

path = results_path("ch", preset)
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(f"run_id,seeds\\n,{seeds}\\n")
print(os.path.join(os.getcwd(), "store"))
print("3 runs: 2 trained now, 1 read from the store")
'''


def run_execute(tmp_path: Path, *extra: str, script: str = CHAPTER, out: str = "book") -> subprocess.CompletedProcess:
    """tools/execute_notebooks.py on notebooks/ch.py with ``tmp_path/book`` and ``tmp_path/results`` standing for
    the committed book and results (the committed book holds ``previous`` files first)."""
    nbdir = tmp_path / "notebooks"
    if not nbdir.exists():
        nbdir.mkdir()
        (tmp_path / "book").mkdir()
        (tmp_path / "book" / "ch.ipynb").write_text("previous")
        (tmp_path / "results" / "cpu").mkdir(parents=True)
        (tmp_path / "results" / "cpu" / "ch-cifar10.csv").write_text("previous")
    (nbdir / "ch.py").write_text(script)
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "Agg"}
    env.pop("NBPRUNE_RESULTS", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--kernel", "nbprune",
         "--notebooks", str(nbdir), "--build", str(tmp_path / "build"), "--book", str(tmp_path / "book"),
         "--results", str(tmp_path / "results"), "--out", str(tmp_path / out), *extra],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )


@pytest.mark.parametrize("args", [["--preset", "cpu", "-p", "seed", "[7]"], ["--preset", "smoke", "-p", "sedes", "[0]"]])
def test_execute_notebooks_rejects_an_undeclared_parameter_before_running(tmp_path, args):
    proc = run_execute(tmp_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    name = args[-2]
    assert lines == [f"execute_notebooks: unknown parameter {name!r} for ch; allowed: preset, seeds"], proc.stderr
    assert not proc.stdout and not (tmp_path / "build").exists()  # nothing converted, nothing executed


def test_execute_notebooks_rejects_the_chapters_misspelt_parameter():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--preset", "cpu", "--only", "01_predefined",
         "-p", "seed", "[7]"], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "execute_notebooks: unknown parameter 'seed' for 01_predefined; allowed: "
        + ", ".join(assigned_names(tagged(jupytext.read(ROOT / "notebooks" / "01_predefined.py"), "parameters")[0].source))]


@pytest.mark.slow
@pytest.mark.skipif(not kernel_available("nbprune"), reason="the nbprune kernel is not installed (make venv)")
@pytest.mark.parametrize("args", [["--preset", "cpu", "-p", "seeds", "[0]"], ["--preset", "smoke"]],
                         ids=["parameter", "preset"])
def test_execute_notebooks_rerun_with_other_parameters_goes_to_build(tmp_path, args):
    proc = run_execute(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    preset = args[1]
    rerun = tmp_path / "build" / "rerun" / preset
    assert (tmp_path / "book" / "ch.ipynb").read_text() == "previous"  # the committed book is untouched
    assert (tmp_path / "results" / "cpu" / "ch-cifar10.csv").read_text() == "previous"
    assert sorted(p.name for p in (tmp_path / "book").iterdir()) == ["ch.ipynb"]
    assert not (tmp_path / "results" / "smoke").exists()
    assert (rerun / "ch.ipynb").exists() and (rerun / "_verdicts.md").exists() and (rerun / "_run_summary.md").exists()
    assert (rerun / "results" / preset / "ch-cifar10.csv").read_text().endswith("[0]\n" if "-p" in args else "None\n")
    outputs = [line for line in proc.stdout.splitlines() if line.startswith("outputs: ")]
    assert len(outputs) == 1 and outputs[0].startswith(f"outputs: build/rerun/{preset}/ "), proc.stdout
    assert "--replace-committed" in outputs[0]


def test_execute_notebooks_refuses_while_a_committed_run_trains_again(tmp_path, monkeypatch):
    """A committed run being trained again in the run store (a large model replayed for its weights): the
    chapters would leave it out and the export would drop it, so nothing executes."""
    from nbprune.runs import RunStore
    from nbprune.store_io import export_runs
    from test_store_io import fake_run

    store = RunStore(tmp_path / "store")
    ids = [fake_run(store, seed) for seed in range(2)]
    export = tmp_path / "committed-store"  # stands for results/cpu/store
    export_runs(store, export, ids)
    (store.path / ids[1] / "metrics.json").unlink()  # moved aside and training again: config, no metrics yet
    monkeypatch.setenv("NBPRUNE_STORE", str(store.path))
    proc = run_execute(tmp_path, "--preset", "cpu", "--fresh", "--results-store", str(export))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ids[1] in lines[0] and "being trained again" in lines[0], proc.stderr
    assert (tmp_path / "book" / "ch.ipynb").read_text() == "previous" and not (tmp_path / "build").exists()
    assert sorted(json.loads((export / "manifest.json").read_text())["runs"]) == sorted(ids)


@pytest.mark.slow
@pytest.mark.skipif(not kernel_available("nbprune"), reason="the nbprune kernel is not installed (make venv)")
def test_execute_notebooks_replace_committed_writes_the_book_and_results(tmp_path):
    proc = run_execute(tmp_path, "--preset", "cpu", "-p", "seeds", "[0]", "--replace-committed")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "cpu" / "ch-cifar10.csv").read_text().endswith("[0]\n")
    nb = nbformat.read(tmp_path / "book" / "ch.ipynb", as_version=4)
    assert "seeds = [0]" in tagged(nb, "injected-parameters")[0].source
    assert (tmp_path / "book" / "_verdicts.md").exists() and not (tmp_path / "build" / "rerun").exists()


@pytest.mark.slow
@pytest.mark.skipif(not kernel_available("nbprune"), reason="the nbprune kernel is not installed (make venv)")
def test_execute_notebooks_reexecution_is_byte_identical_and_leaves_the_file_alone(tmp_path):
    """The committed parameters twice, at the smoke preset's stand-in (a two-cell chapter): the same bytes, the
    second run does not rewrite the file, no timestamps or machine paths in it, and the run count is summed."""
    script = CHAPTER.replace('preset = "cpu"', 'preset = "smoke"')
    first = run_execute(tmp_path, "--preset", "smoke", script=script)
    assert first.returncode == 0, first.stderr
    book = tmp_path / "book" / "ch.ipynb"
    data, stat = book.read_bytes(), book.stat()
    verdicts = (tmp_path / "book" / "_verdicts.md").stat()
    second = run_execute(tmp_path, "--preset", "smoke", script=script)
    assert second.returncode == 0, second.stderr
    assert book.read_bytes() == data
    assert book.stat().st_mtime_ns == stat.st_mtime_ns and book.stat().st_ino == stat.st_ino  # not replaced
    assert (tmp_path / "book" / "_verdicts.md").stat().st_mtime_ns == verdicts.st_mtime_ns
    assert "ch.ipynb (unchanged)" in second.stdout
    assert (tmp_path / "results" / "smoke" / "ch-cifar10.csv").exists()  # the committed parameters: results/
    text = data.decode()
    for volatile in ("start_time", "end_time", "duration", "iopub", "input_path", "output_path", str(tmp_path),
                     str(ROOT), "/tmp/"):
        assert volatile not in text, volatile
    assert '"./store\\n"' in text  # a path under the repository is shown relative to it
    assert second.stdout.strip().splitlines()[-1] == \
        "trained: 2 run(s) now (ch 2); 1 chapter runs read from the store, over 1 chapter(s)"


def test_execute_notebooks_summary_line():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import execute_notebooks as ex
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert ex.summary_line({"a": (98, 0), "b": (10, 0)}) == \
        ("trained: nothing (108 chapter runs over 2 chapter(s), all read from the store; a run two chapters share "
         "counts in both)")
    assert ex.summary_line({"a": (98, 3), "b": (10, 0)}) == \
        "trained: 3 run(s) now (a 3); 105 chapter runs read from the store, over 2 chapter(s)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="x at preset 'cpu'\n98 runs: all read from the store, nothing trained\n")])])
    assert ex.trained_counts(nb) == (98, 0)


def test_a_cells_prints_split_into_several_messages_are_normalised_to_one_output():
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def notebook(texts):
        nb = nbformat.v4.new_notebook()
        outputs = [nbformat.v4.new_output("stream", name=name, text=text) for name, text in texts]
        outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": "x"}))
        nb.cells.append(nbformat.v4.new_code_cell("print(table)", outputs=outputs))
        return nbformat.writes(tool.normalise(nb))

    # the same prints, flushed as one message in one run and as two in another (seen in chapter 6's lr table)
    one = notebook([("stdout", "epoch of 40: 0 1\nfine-tuned: 0.001\n"), ("stderr", "warning\n")])
    two = notebook([("stdout", "epoch of 40: 0 1"), ("stdout", ["\n", "fine-tuned: 0.001\n"]), ("stderr", "warning\n")])
    assert one == two and one.count('"output_type": "stream"') == 2  # stdout and stderr stay apart
