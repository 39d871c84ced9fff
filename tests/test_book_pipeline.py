"""Fast checks of the book's plumbing: chapter scripts, table of contents, and the nbval preparation.

No chapter is executed here (that is `make nbval`); the one kernel start below runs a two-cell notebook.
"""

from __future__ import annotations

import ast
import re
import os
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
            assert exp.model in list_models() and exp.method in list_methods(), (chapter, exp)


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
