
import pytest
import torch

from nbprune.data import ImageData
from nbprune.flops import count_flops
from nbprune.presets import get_preset
from nbprune.prune import hooks_for
from nbprune.train import NonFiniteLoss, RunConfig, build_model, train


def synthetic(n_train=96, n_test=40, classes=10, seed=0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_train) % classes
    yt = torch.arange(n_test) % classes
    make = lambda labels: (labels.view(-1, 1, 1, 1) * 20 + torch.randint(0, 60, (len(labels), 3, 32, 32), generator=g)).clamp(0, 255).to(torch.uint8)  # noqa: E731
    return ImageData("cifar10", make(y), y, make(yt), yt, None, None, [str(c) for c in range(classes)], "synthetic", "0")


TINY = dict(model="resnet20", width=0.25, epochs=3, batch_size=32)


def test_hash_ignores_defaults_and_sees_changes():
    a = RunConfig(model="resnet20", epochs=3)
    assert a.non_default() == {"model": "resnet20", "epochs": 3}
    assert RunConfig(model="resnet20", epochs=3, lr=0.1, dataset="cifar10").run_id == a.run_id
    assert RunConfig(model="resnet20", epochs=3, seed=1).run_id != a.run_id
    assert RunConfig(model="resnet20", epochs=3, cfg=[[4], [8], [16]]).cfg == ((4,), (8,), (16,))
    assert RunConfig.from_dict(a.to_dict()) == a
    assert len(a.run_id) == 16


def test_paper_schedule_and_scratch_b_milestones():
    c = RunConfig(model="vgg16")
    assert c.lr_milestones() == (80, 120)
    assert [c.lr_at(e) for e in (0, 79, 80, 119, 120, 159)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert RunConfig(model="vgg16", epochs=243).lr_milestones() == (121, 182)
    ft = RunConfig(model="vgg16", epochs=40, lr=0.001, milestones=())
    assert all(ft.lr_at(e) == 0.001 for e in range(40))
    q = RunConfig.from_preset("quick", "vgg16", seed=2)
    p = get_preset("quick")
    assert (q.epochs, q.width, q.train_subset, q.seed, q.amp) == (p.epochs, p.width, p.train_subset, 2, p.amp)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=-1), "epochs: must be an integer >= 0"),
    (dict(width=0), "width: must be a number > 0"),
    (dict(lr=float("nan")), "lr: must be a finite number"),
    (dict(dataset="cifar1000"), "dataset: unknown 'cifar1000'; did you mean"),
    (dict(init="abc"), "init: must be one of random, parent, parent-init"),
    (dict(init="parent"), "init: 'parent' needs a parent run"),
    (dict(prune={"method": "l1"}), "prune: a pruning spec needs a parent run"),
    (dict(batch_size=0), "batch_size: must be an integer >= 1"),
    (dict(train_subset=0), "train_subset: must be a positive integer"),
])
def test_bad_config_is_rejected_before_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(model="resnet20", **kwargs)


@pytest.mark.slow
def test_training_records_history_flops_and_learns(tmp_path):
    data = synthetic()
    cfg = RunConfig(**{**TINY, "epochs": 4})
    m = train(cfg, tmp_path, data, torch.device("cpu"), progress=False)
    assert len(m["history"]) == 4 and m["status"] == "finished"
    assert m["flops"] == count_flops(build_model(cfg, 10))
    assert m["train_flops"] == 4 * 3 * m["flops"] * len(data.train_y)
    assert m["best_test_acc"] >= m["test_acc"]
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    assert [h["lr"] for h in m["history"]] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    for name in ("init.pt", "final.pt", "checkpoint.pt"):
        assert (tmp_path / name).exists()


@pytest.mark.slow
def test_bf16_autocast_runs_on_the_cpu_and_is_deterministic(tmp_path):
    """amp=True must really switch the CPU's convolutions to bf16 (the weights then differ from fp32's), learn
    as well, and give the same weights twice."""
    data = synthetic()
    fp32 = train(RunConfig(**TINY), tmp_path / "fp32", data, torch.device("cpu"), progress=False)
    runs = [train(RunConfig(**TINY, amp=True), tmp_path / f"bf16-{i}", data, torch.device("cpu"), progress=False)
            for i in range(2)]
    w32, wa, wb = (torch.load(tmp_path / d / "final.pt") for d in ("fp32", "bf16-0", "bf16-1"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], w32[k]) for k in wa if wa[k].is_floating_point())
    assert all(v.dtype != torch.bfloat16 for v in wa.values())  # master weights stay fp32
    assert runs[0]["history"][-1]["train_loss"] < runs[0]["history"][0]["train_loss"]
    assert abs(runs[0]["history"][0]["train_loss"] - fp32["history"][0]["train_loss"]) < 0.1


class Interrupt(Exception):
    pass


def _stop_after(n):
    def hook(epoch):
        if epoch == n:
            raise Interrupt
    return hook


@pytest.mark.slow
def test_resume_after_interruption_is_exact(tmp_path):
    data = synthetic()
    cfg = RunConfig(**TINY)
    full = train(cfg, tmp_path / "a", data, torch.device("cpu"), progress=False)
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "b", data, torch.device("cpu"), progress=False, on_epoch=_stop_after(1))
    resumed = train(cfg, tmp_path / "b", data, torch.device("cpu"), progress=False)
    wa = torch.load(tmp_path / "a" / "final.pt")
    wb = torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [h["test_acc"] for h in full["history"]] == [h["test_acc"] for h in resumed["history"]]
    assert [h["train_loss"] for h in full["history"]] == [h["train_loss"] for h in resumed["history"]]


@pytest.mark.slow
def test_corrupt_checkpoint_is_reported_and_the_run_restarts(tmp_path):
    data = synthetic()
    cfg = RunConfig(**{**TINY, "epochs": 2})
    ref = train(cfg, tmp_path / "a", data, torch.device("cpu"), progress=False)
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "b", data, torch.device("cpu"), progress=False, on_epoch=_stop_after(1))
    ckpt = tmp_path / "b" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # a torn write
    with pytest.warns(UserWarning, match=r"run b: checkpoint checkpoint.pt is unreadable"):
        again = train(cfg, tmp_path / "b", data, torch.device("cpu"), progress=False)
    assert again["test_acc"] == ref["test_acc"]


@pytest.mark.slow
def test_non_finite_loss_stops_the_run(tmp_path):
    with pytest.raises(NonFiniteLoss, match="training loss became"):
        train(RunConfig(**{**TINY, "lr": 1e30}), tmp_path, synthetic(), torch.device("cpu"), progress=False)


@pytest.mark.slow
def test_bn_sparsity_shrinks_the_bn_scales(tmp_path):
    data = synthetic()
    gammas = {}
    for s in (0.0, 0.5):
        cfg = RunConfig(**{**TINY, "epochs": 2, "bn_sparsity": s})
        train(cfg, tmp_path / str(s), data, torch.device("cpu"), progress=False, hooks=hooks_for(cfg))
        state = torch.load(tmp_path / str(s) / "final.pt")
        gammas[s] = torch.cat([v.abs() for k, v in state.items() if k.endswith("bn1.weight")]).mean().item()
    assert gammas[0.5] < 0.8 * gammas[0.0]


@pytest.mark.slow
def test_masks_keep_pruned_weights_at_zero(tmp_path):
    cfg = RunConfig(**{**TINY, "epochs": 2})
    model = build_model(cfg, 10)
    state = model.state_dict()
    masks = {}
    for k, v in list(state.items()):
        if k.endswith("conv1.weight"):
            mask = (torch.rand_like(v) > 0.5).float()
            state[k[: -len("weight")] + "weight_mask"] = mask
            masks[k] = mask
    train(cfg, tmp_path, synthetic(), torch.device("cpu"), init_state=state, progress=False)
    final = torch.load(tmp_path / "final.pt")
    for k, mask in masks.items():
        assert torch.all(final[k][mask == 0] == 0.0)
        assert torch.any(final[k][mask == 1] != 0.0)
