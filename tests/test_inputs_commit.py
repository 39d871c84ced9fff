"""The environment appendix names the code by the last commit of the book's inputs, so committing the
re-executed book does not change what re-executing it writes."""

import subprocess

import pytest

from nbprune.provenance import inputs_commit


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_committing_the_book_does_not_move_the_inputs_commit_but_an_input_change_does(tmp_path):
    try:
        _git(tmp_path, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "code")
    code = _git(tmp_path, "rev-parse", "HEAD")
    assert inputs_commit(tmp_path) == code
    (tmp_path / "book" / "ch.ipynb").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "the re-executed book")
    assert inputs_commit(tmp_path) == code  # the book's own commit is not an input
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    assert inputs_commit(tmp_path) == code + "+dirty"
    _git(tmp_path, "commit", "-qam", "code again")
    assert inputs_commit(tmp_path) == _git(tmp_path, "rev-parse", "HEAD") != code
