"""The paper's reference numbers (nbprune.paper): a leaf module that reads the packaged CSV."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nbprune.paper
from nbprune.paper import paper_table, paper_value, paper_wide

LEAVES = {"atomic", "params", "stats"}  # the only nbprune modules a leaf may import


def test_paper_imports_no_other_nbprune_module_in_a_fresh_interpreter():
    code = ("import sys, nbprune.paper as p; p.paper_wide('1'); "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'nbprune')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["nbprune", "nbprune.paper"]


def _nbprune_imports(source: str) -> set[str]:
    """The nbprune modules (first name under nbprune) that ``source`` imports, relatively or absolutely."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] if "." in a.name else "" for a in node.names
                      if a.name.split(".")[0] == "nbprune"}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] != "nbprune":
                continue
            parts = module.split(".")[1:] if node.level == 0 else module.split(".") if module else []
            found |= {parts[0]} if parts else {a.name for a in node.names}
    return found


def test_paper_source_imports_only_leaf_modules():
    ours = _nbprune_imports(Path(nbprune.paper.__file__).read_text())
    assert ours <= LEAVES, ours
    # the check itself sees relative and absolute imports
    assert _nbprune_imports("from .grids import x\nfrom nbprune.runs import y\nimport nbprune.cli\n"
                            "from . import train") == {"grids", "runs", "cli", "train"}


def test_report_reexports_the_paper_functions():
    from nbprune import report

    assert report.paper_table is paper_table and report.paper_value is paper_value
    assert report.paper_wide is paper_wide


def test_paper_value_and_table():
    assert paper_value("1", "cifar10", "VGG-16", "VGG-16-A", "scratch-b") == (93.78, 0.15)
    assert paper_value(1, "imagenet", "VGG-16", "VGG-16-A", "fine-tuned") is None  # no such dataset in Table 1
    assert set(paper_table(1)["table"]) == {"1"}
    assert set(paper_table(dataset="cifar100")["dataset"]) == {"cifar100"}


def test_paper_wide_one_row_per_pruned_model_one_column_per_variant():
    wide = paper_wide("1", "2")
    assert list(wide.index.names) == ["table", "dataset", "model", "pruned model"]
    assert wide.loc[("1", "cifar10", "VGG-16", "VGG-16-A"), "fine-tuned"] == "93.41 ± 0.12"
    assert set(wide.index.get_level_values("table")) == {"1", "2"}


def test_paper_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match=r"table: unknown '99'; allowed: 1, 2"):
        paper_wide("1", "99")
    with pytest.raises(ValueError, match="tables: give at least one"):
        paper_wide()
