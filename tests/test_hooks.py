"""Training hooks: train.py knows no pruning method and imports nothing from nbprune.prune; a method's config
field without its hook is refused; the hooks a config gets, and what each one does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

import nbprune.train as train_mod
from nbprune.hooks import TrainHook, check_hooks
from nbprune.prune import hooks_for
from nbprune.prune.sfp import SFPHook
from nbprune.prune.slimming import SlimmingHook
from nbprune.prune.sss import ScaledBasicBlock, SSSHook
from nbprune.train import RunConfig, build_model, make_optimizer, train

SRC = Path(train_mod.__file__)
TINY = dict(model="resnet20", width=0.25, epochs=1, batch_size=32)


def _synthetic():
    from test_train import synthetic

    return synthetic(n_train=32, n_test=16)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (relative imports resolved against the nbprune package)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("nbprune." + (node.module or "")) if node.level else node.module
            names += [base.rstrip(".")] + [f"{base.rstrip('.')}.{a.name}" for a in node.names]
    return names


def test_train_source_names_no_method_and_imports_no_prune_module():
    text = SRC.read_text()
    for word in ("slimming", "sfp", "sss", "bn_sparsity", "sfp_rate", "sss_penalty"):
        assert not re.search(word, text, re.IGNORECASE), word
    imported = _imports(SRC)
    assert not [m for m in imported if m == "nbprune.prune" or m.startswith("nbprune.prune.")], imported


def test_hooks_module_is_a_leaf():
    assert not [m for m in _imports(Path(train_mod.__file__).with_name("hooks.py")) if m.startswith("nbprune")]


@pytest.mark.parametrize("field, value", [("bn_sparsity", 1e-4), ("sfp_rate", 0.3), ("sss_penalty", 1e-4)])
def test_a_method_field_without_its_hook_is_refused_before_any_work(tmp_path, field, value):
    config = RunConfig(**TINY, **{field: value})
    with pytest.raises(ValueError, match=f"hooks: the config sets {field}={value!r} but no hook consumes it"):
        train(config, tmp_path / "run", _synthetic(), torch.device("cpu"), progress=False)
    assert not (tmp_path / "run").exists()


def test_a_hook_for_another_value_or_a_default_field_is_refused():
    with pytest.raises(ValueError, match=r"hooks: SlimmingHook\(0.5\) is for bn_sparsity=0.5 but the config has "
                                         r"bn_sparsity=0.1"):
        check_hooks({}, {"bn_sparsity": 0.1}, [SlimmingHook(0.5)])
    with pytest.raises(ValueError, match="the config has bn_sparsity='its default'"):
        build_model(RunConfig(model="resnet20", width=0.25), 10, [SlimmingHook(0.5)])
    with pytest.raises(ValueError, match="two hooks consume sfp_rate"):
        check_hooks({"sfp_rate": 0.3}, {"sfp_rate": 0.3}, [SFPHook(0.3), SFPHook(0.3)])
    with pytest.raises(ValueError, match="hooks: must be TrainHook instances"):
        check_hooks({}, {}, ["slimming"])
    assert check_hooks({}, {}, [TrainHook()])  # a hook that consumes no field is always allowed


def test_hooks_for_maps_each_method_field_to_its_hook_in_field_order():
    config = RunConfig(model="resnet20", bn_sparsity=1e-4, sfp_rate=0.3, sss_penalty=1e-5)
    hooks = hooks_for(config)
    assert [type(h) for h in hooks] == [SlimmingHook, SFPHook, SSSHook]
    assert [h.value for h in hooks] == [1e-4, 0.3, 1e-5]
    assert hooks_for(RunConfig(model="resnet20")) == []
    assert config.regularizer_fields(at_build=True) == {"sss_penalty": 1e-5}


def test_build_needs_the_hook_that_adds_parameters_and_the_optimizer_exempts_them():
    config = RunConfig(model="resnet20", width=0.25, sss_penalty=1e-4)
    with pytest.raises(ValueError, match="sss_penalty=0.0001 but no hook consumes it"):
        build_model(config, 10)
    model = build_model(config, 10, hooks_for(config))
    assert isinstance(model.layer1[0], ScaledBasicBlock)
    opt = make_optimizer(model, config, hooks_for(config))
    assert [g["weight_decay"] for g in opt.param_groups] == [config.weight_decay, 0.0]
    assert len(opt.param_groups[1]["params"]) == 9
    assert build_model(RunConfig(model="resnet20", width=0.25, bn_sparsity=1e-4), 10)  # nothing to add at build


@pytest.mark.slow
def test_train_calls_every_hook_point_in_order(tmp_path):
    calls: list[str] = []

    class Spy(TrainHook):
        def on_build(self, model):
            calls.append("build")

        def no_decay(self, model):
            calls.append("no_decay")
            return []

        def on_train_start(self, model, start_epoch):
            calls.append(f"start{start_epoch}")

        def after_backward(self, model):
            calls.append("backward")
            assert all(p.grad is not None for p in model.parameters())

        def after_step(self, model, lr):
            calls.append(f"step{lr}")

        def on_epoch_end(self, model, epoch):
            calls.append(f"end{epoch}")

    config = RunConfig(**{**TINY, "epochs": 2})
    train(config, tmp_path, _synthetic(), torch.device("cpu"), progress=False, hooks=[Spy()])
    steps = [["backward", f"step{config.lr_at(e)}"] for e in range(2)]
    assert calls == ["build", "no_decay", "start0", *steps[0], "end0", *steps[1], "end1"]
