"""Chapter 6's retraining schedules as RunConfig data: the lr at every step, and the trainer following it."""

from __future__ import annotations

import math

import pytest
import torch

from nbprune.config import RunConfig
from nbprune.pipeline import FINETUNE_LR, RETRAINING, derived_configs, retraining_schedule
from nbprune.presets import get_preset
from nbprune.prune import PrunePlan

LARGE = RunConfig.from_preset("paper", "vgg16")  # 160 epochs, lr 0.1, x0.1 at 80 and 120


def _derived(variants, epochs_large=160):
    large = RunConfig(model="vgg16", epochs=epochs_large)
    plan = PrunePlan(method="l1", arch="vgg16", cfg=[32] * 13, keep={"features.0": torch.arange(32)})
    return derived_configs(large, plan, {"method": "l1", "target": "vgg16-a"}, 2, 1, get_preset("paper"), variants)


def test_lr_rewinding_replays_the_large_schedules_last_epochs():
    # 40 of 160 epochs: all in the last phase, so rewinding is fine-tuning, and the same run
    c = _derived(("fine-tuned", "lr-rewinding"))
    assert c["lr-rewinding"].run_id == c["fine-tuned"].run_id and c["fine-tuned"].lr == FINETUNE_LR
    # 60 of 160 epochs: 20 at 0.01, then 40 at 0.001 (the milestone at 120 moves to 20)
    s = retraining_schedule("lr-rewinding", LARGE, 60)
    cfg = RunConfig(model="vgg16", epochs=60, **s)
    assert [cfg.lr_at(e) for e in (0, 19, 20, 59)] == pytest.approx([0.01, 0.01, 0.001, 0.001])


def test_scaled_restart_warms_up_then_steps_down_at_half_and_three_quarters():
    cfg = _derived(("slr",))["slr"]
    assert (cfg.epochs, cfg.lr, cfg.milestones, dict(cfg.schedule)["drops"]) == (40, 0.1, (), (0.5, 0.75))
    # the warm-up: the first 10% of the run (4 epochs) ramp linearly from 0, step by step
    assert cfg.lr_at(0, 0.5) == pytest.approx(0.1 * (0.5 / 40) / 0.1)
    assert cfg.lr_at(3, 1.0) == pytest.approx(0.1)
    assert [cfg.lr_at(e, 1.0) for e in (10, 19, 20, 29, 30, 39)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert cfg.per_step_lr


def test_a_one_epoch_scaled_restart_steps_down_within_the_epoch():
    # the CPU presets retrain for one epoch: the drops at 50% and 75% fall between steps, not at epochs
    large = RunConfig(model="vgg16", epochs=4)
    cfg = RunConfig(model="vgg16", epochs=1, **retraining_schedule("slr", large, 1))
    assert [cfg.lr_at(0, p) for p in (0.05, 0.1, 0.5, 0.51, 0.75, 0.76, 1.0)] == pytest.approx(
        [0.05, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    xs, ys = cfg.lr_curve(points_per_epoch=4)  # what the chapter plots: the same function
    assert xs == [0.0, 0.25, 0.5, 0.75] and ys == pytest.approx([cfg.lr_at(0, p) for p in (0.25, 0.5, 0.75, 1.0)])


def test_cyclic_restart_warms_up_then_decays_along_a_cosine_to_zero():
    cfg = _derived(("clr",))["clr"]
    assert cfg.lr_at(39, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert cfg.lr_at(3, 1.0) == pytest.approx(0.1)  # end of the warm-up: the peak
    t = (21 + 0.5) / 40
    assert cfg.lr_at(21, 0.5) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * (t - 0.1) / 0.9)))
    lrs = [cfg.lr_at(e, 1.0) for e in range(4, 40)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # non-increasing after the warm-up


def test_the_paper_schedule_is_unchanged_and_set_once_an_epoch():
    assert not LARGE.per_step_lr and LARGE.schedule == ()
    assert [LARGE.lr_at(e, p) for e in (0, 79, 80, 120) for p in (0.0, 0.99)] == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert RunConfig(model="vgg16").run_id == RunConfig(model="vgg16", schedule=()).run_id


@pytest.mark.parametrize("bad", [(("name", "linear"),), (("name", "cosine"), ("warmup", 1.0)), (("warmup", 0.1),),
                                 (("name", "step"), ("restarts", 2))])
def test_a_bad_schedule_is_one_line_naming_the_field(bad):
    with pytest.raises(ValueError, match="schedule: "):
        RunConfig(model="vgg16", schedule=bad)
    with pytest.raises(ValueError, match="variant: 'cosine' is not a retraining schedule"):
        retraining_schedule("cosine", LARGE, 40)
    assert set(RETRAINING) == {"lr-rewinding", "slr", "clr"}


@pytest.mark.slow
def test_the_trainer_sets_a_named_schedules_lr_at_every_step(tmp_path, monkeypatch):
    from nbprune import train as train_mod
    from test_train import synthetic

    seen = []
    real = train_mod.train_batch

    def spy(step_model, model, opt, *args, **kw):
        seen.append(opt.param_groups[0]["lr"])
        return real(step_model, model, opt, *args, **kw)

    monkeypatch.setattr(train_mod, "train_batch", spy)
    data = synthetic(n_train=64, n_test=16)
    cfg = RunConfig(model="vgg11", width=0.125, epochs=2, batch_size=16, schedule=(("name", "cosine"),))
    train_mod.train(cfg, tmp_path / "run", data, torch.device("cpu"), progress=False)
    n = math.ceil(64 / 16)
    assert seen == pytest.approx([cfg.lr_at(e, (i + 1) / n) for e in range(2) for i in range(n)])
    assert len(set(seen)) == len(seen)  # every step its own lr


@pytest.mark.slow
def test_a_large_model_keeps_its_early_weights_for_rewinding_and_a_rewound_ticket_starts_from_them(tmp_path):
    from nbprune.experiments import experiment
    from nbprune.graph import variant_configs
    from nbprune.runs import RunStore
    from test_train import synthetic

    assert RunConfig(model="vgg16", epochs=160, train_subset=None, batch_size=64).rewind_steps() == (1251, 2502)  # 1% and 2% of 160 x 782 steps
    data = synthetic(n_train=64, n_test=16)
    large = RunConfig(model="vgg11", width=0.125, epochs=2, batch_size=16, train_subset=64)
    assert large.steps_per_epoch() == 4 and large.rewind_steps() == (1,)
    store = RunStore(tmp_path / "store")
    res = store.run(large, data=data, progress=False)
    early = res.state_dict("rewind-1")
    assert not torch.equal(early["features.0.weight"], res.state_dict("init")["features.0.weight"])
    assert not torch.equal(early["features.0.weight"], res.state_dict("final")["features.0.weight"])
    exp = experiment("50%", "vgg11", "magnitude", {"fraction": 0.5}, variants=("winning-ticket", "rewound-ticket"))
    configs = variant_configs(res, exp, get_preset("smoke"))
    rewound = configs["rewound-ticket"]
    assert (rewound.init, rewound.rewind_step, rewound.epochs) == ("parent-rewind", 1, 2)
    start = store.init_state(rewound)
    mask = start["features.0.weight_mask"]
    assert torch.equal(start["features.0.weight"], early["features.0.weight"] * mask)
    assert store.run(configs["winning-ticket"], data=data, progress=False).config.rewind_steps() == ()
    with pytest.raises(ValueError, match="rewind_step: give it exactly with init 'parent-rewind'"):
        RunConfig(model="vgg11", init="parent-rewind")


@pytest.mark.slow
def test_a_missing_rewind_snapshot_is_replayed_from_the_large_models_init_bit_identically(tmp_path):
    import json

    from nbprune.experiments import experiment
    from nbprune.graph import variant_configs
    from nbprune.runs import RunStore
    from test_train import synthetic

    data = synthetic(n_train=64, n_test=16)
    large = RunConfig(model="vgg11", width=0.125, epochs=2, batch_size=16, train_subset=64)
    store = RunStore(tmp_path / "store")
    res = store.run(large, data=data, progress=False)
    original = res.state_dict("rewind-1")
    (res.dir / "rewind-1.pt").unlink()  # a large model trained before snapshots were kept
    exp = experiment("50%", "vgg11", "magnitude", {"fraction": 0.5}, variants=("rewound-ticket",))
    rewound = variant_configs(res, exp, get_preset("smoke"))["rewound-ticket"]
    store.run(rewound, data=data, progress=False)
    replayed = res.state_dict("rewind-1")
    assert replayed.keys() == original.keys() and all(torch.equal(replayed[k], original[k]) for k in original)
    assert json.loads((res.dir / "rewind-1.json").read_text())["replayed"] is True
    assert not list(res.dir.glob(".replay-*"))  # the replay's scratch directory is gone
    assert res.state_dict("final").keys() == original.keys()  # the large run itself is untouched
