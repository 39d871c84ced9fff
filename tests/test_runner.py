"""The chapter runner: one execution path, plans computed once, the CLI and the notebooks making the same rows."""

from __future__ import annotations

import pytest
import torch

from nbprune import plans
from nbprune.chapters import CHAPTERS, get_chapter
from nbprune.cli import main
from nbprune.executors import LocalExecutor
from nbprune.experiments import l1_grid, magnitude_grid
from nbprune.runner import run_chapter, run_grid
from nbprune.runs import RunStore

pytestmark = pytest.mark.usefixtures("one_thread")


def _count_make_plan(monkeypatch) -> list:
    """Count every pruning computation, whoever asks for it: each registered method is wrapped."""
    from nbprune.prune.plan import METHODS

    calls = []

    def counting(name, fn):
        def method(model, **settings):
            calls.append(name)
            return fn(model, **settings)
        return method

    for name, fn in list(METHODS.items()):
        monkeypatch.setitem(METHODS, name, counting(name, fn))
    return calls


@pytest.mark.parametrize("grid", [l1_grid(["vgg16-a"]), magnitude_grid({"vgg16": [0.5]})], ids=["l1", "magnitude"])
def test_a_chains_plan_is_computed_once_and_stored_beside_its_large_model(tmp_path, tiny_archive, monkeypatch, grid):
    calls = _count_make_plan(monkeypatch)
    store = RunStore(tmp_path / "store")
    res = run_grid(store, grid, "smoke", [0, 1], data_root=tiny_archive, device="cpu", progress=False)
    # the graph naming the derived runs, the workers fine-tuning them and the collection all use one plan
    assert len(calls) == 2  # one per seed's large model
    for _exp, chain in res.chains:
        assert list((chain.large.dir / "plans").glob("*.pt"))
        assert chain.runs["fine-tuned"].metrics["status"] == "finished"
    again = run_grid(store, grid, "smoke", [0, 1], data_root=tiny_archive, device="cpu", progress=False)
    assert len(calls) == 2 and again.rows == res.rows  # read back, not recomputed


def test_a_stored_plan_round_trips_exactly(tmp_path, tiny_archive):
    store = RunStore(tmp_path / "store")
    res = run_grid(store, magnitude_grid({"vgg16": [0.5]}), "smoke", [0], data_root=tiny_archive, device="cpu",
                   progress=False)
    chain = res.chains[0][1]
    fresh = plans.compute_plan(chain.large.model("final"), "magnitude", {"fraction": 0.5})
    stored = plans.load_plan(chain.large.dir, "magnitude", {"fraction": 0.5})
    assert stored.flops_pruned == fresh.flops_pruned and stored.plan.cfg == fresh.plan.cfg
    assert set(stored.plan.masks) == set(fresh.plan.masks)
    assert all(torch.equal(stored.plan.masks[k], fresh.plan.masks[k]) for k in fresh.plan.masks)
    assert plans.load_plan(chain.large.dir, "magnitude", {"fraction": 0.6}) is None  # another spec: not this file


def test_an_unreadable_plan_is_recomputed(tmp_path, tiny_archive, monkeypatch):
    store = RunStore(tmp_path / "store")
    grid = l1_grid(["vgg16-a"])
    res = run_grid(store, grid, "smoke", [0], data_root=tiny_archive, device="cpu", progress=False)
    path = next((res.chains[0][1].large.dir / "plans").glob("*.pt"))
    path.write_bytes(b"torn")
    calls = _count_make_plan(monkeypatch)
    again = run_grid(store, grid, "smoke", [0], data_root=tiny_archive, device="cpu", progress=False)
    assert len(calls) == 1 and again.rows == res.rows


def test_every_chapter_record_is_complete():
    pages = [c.page for c in CHAPTERS.values()]
    assert pages == ["01_predefined", "02_automatic", "03_unstructured", "04_architecture_search", "05_lottery_ticket"]
    for c in CHAPTERS.values():
        assert c.claim and c.experiments("smoke") and c.experiments("paper")
        assert c.verdicts == "search" or c.pairs
    with pytest.raises(ValueError, match="chapter: unknown 'predefinedd'; did you mean 'predefined'"):
        get_chapter("predefinedd")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_the_cli_and_the_notebooks_runner_make_the_same_results_file(tmp_path, tiny_archive, chapter):
    store = tmp_path / "store"
    run = run_chapter(chapter, "smoke", data_root=tiny_archive, store=store, executor=LocalExecutor(workers=1),
                      device="cpu", results_root=tmp_path / "notebook")
    trained = set(RunStore(store).run_ids())
    assert main(["grid", chapter, "--preset", "smoke", "--store", str(store), "--data", str(tiny_archive),
                 "--workers", "1", "--device", "cpu", "--results", str(tmp_path / "cli")]) == 0
    assert set(RunStore(store).run_ids()) == trained  # the CLI trained nothing more: the same runs
    name = f"{chapter}-cifar10.csv"
    assert (tmp_path / "cli" / "smoke" / name).read_bytes() == (tmp_path / "notebook" / "smoke" / name).read_bytes()
    if chapter == "architecture_search":  # the follow-up stage runs from the CLI too
        assert any(r["target"].startswith(("guided", "transferred")) for r in run.rows)


def test_the_box_counts_the_runs_made_by_other_code(tmp_path, tiny_archive):
    import json

    run = run_chapter("automatic", "smoke", data_root=tiny_archive, store=tmp_path / "store",
                      executor=LocalExecutor(workers=1), device="cpu", results_root=tmp_path / "results")
    n = len({r["run_id"] for r in run.rows})
    assert f"all {n} runs were made by this code" in run.box()
    prov_path = run.store.path / run.rows[0]["run_id"] / "provenance.json"
    prov = json.loads(prov_path.read_text())
    prov["packages"]["torch"] = "0.0.1"
    prov_path.write_text(json.dumps(prov))
    box = run.box()
    assert f"of {n} runs, 1 by other code or libraries (differing: torch (1))" in box
