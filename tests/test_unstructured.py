import math

import pytest
import torch

from nbprune.flops import count_flops, count_params, scratch_b_epochs
from nbprune.models import create_model
from nbprune.prune import apply_plan, make_plan
from nbprune.prune.unstructured import conv_weights, iterative_fractions, stage_sparsity
from nbprune.runner import run_chain
from nbprune.runs import RunStore
from nbprune.train import RunConfig
from test_train import synthetic


def small(name="resnet20", seed=0):
    torch.manual_seed(seed)
    return create_model(name, width=0.25)


def test_magnitude_keeps_exactly_the_global_top_weights():
    model = small()
    plan = make_plan(model, "magnitude", fraction=0.8)
    w = torch.cat([v.detach().abs().flatten() for v in conv_weights(model).values()])
    m = torch.cat([plan.masks[k].flatten() for k in conv_weights(model)])
    n_keep = w.numel() - round(0.8 * w.numel())
    assert int(m.sum()) == n_keep
    threshold = torch.sort(w, descending=True).values[n_keep - 1]
    assert torch.all(w[m == 1] >= threshold) and torch.all(w[m == 0] <= threshold)
    assert plan.info["pruned_fraction"] == pytest.approx(0.8, abs=1e-4)
    assert not any(k.startswith("fc") for k in plan.masks)  # conv weights only


def test_masked_flops_and_params_count_non_zeros():
    model = small()
    pruned = apply_plan(model, make_plan(model, "magnitude", fraction=0.5))
    conv_dense = sum(v.numel() for v in conv_weights(model).values())
    assert count_params(model, masked=True) - count_params(pruned, masked=True) == pytest.approx(conv_dense * 0.5, abs=1)
    assert count_flops(pruned, masked=True) < count_flops(model)
    assert count_flops(pruned) == count_flops(model)  # dense counting ignores the masks


def test_iterative_schedule_and_chained_pruning_keeps_old_zeros():
    assert iterative_fractions(0.5) == pytest.approx([0.2, 0.36, 0.488, 0.5])
    assert iterative_fractions(0.2) == pytest.approx([0.2])
    model = small()
    first = apply_plan(model, make_plan(model, "magnitude", fraction=0.2))
    with torch.no_grad():  # training would move the surviving weights; shuffle them to be sure
        for w in conv_weights(first).values():
            w.mul_(torch.rand_like(w))
    second = make_plan(first, "magnitude", fraction=0.36)
    for k, m in second.masks.items():
        assert torch.all(m[getattr(dict(first.named_modules())[k[:-7]], "weight_mask") == 0] == 0)
    assert second.info["pruned_fraction"] == pytest.approx(0.36, abs=1e-4)
    with pytest.raises(ValueError, match="fraction: the model already has"):
        make_plan(apply_plan(first, second), "magnitude", fraction=0.3)


def test_uniform_and_guided_sparsity():
    model = small()
    plan = make_plan(model, "uniform-sparsity", fraction=0.6, seed=1)
    for k, m in plan.masks.items():
        assert 1 - m.mean().item() == pytest.approx(0.6, abs=1 / m.numel() + 1e-6)
    guided = make_plan(model, "guided-sparsity", stage_sparsity=[0.2, 0.5, 0.9])
    assert stage_sparsity(model, guided.masks) == pytest.approx([0.2, 0.5, 0.9], abs=0.01)
    with pytest.raises(ValueError, match="stage_sparsity: must list 3 fractions"):
        make_plan(model, "guided-sparsity", stage_sparsity=[0.1, 0.2])


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.5", True])
def test_bad_fraction_is_rejected(bad):
    with pytest.raises(ValueError, match=r"fraction: must be a number in \[0, 1\)"):
        make_plan(small(), "magnitude", fraction=bad)


def test_unknown_method_suggests_a_close_one():
    with pytest.raises(ValueError, match="method: unknown 'magnitud'; did you mean 'magnitude'"):
        make_plan(small(), "magnitud")


def test_masks_stay_zero_through_momentum_and_weight_decay():
    model = apply_plan(small(), make_plan(small(), "magnitude", fraction=0.9))
    from nbprune.train import _apply_masks

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        _apply_masks(model)
    for name, m in model.named_modules():
        if hasattr(m, "weight_mask"):
            assert torch.all(m.weight[m.weight_mask == 0] == 0.0)


@pytest.mark.slow
def test_unstructured_chain_finetune_scratch_and_ticket(tmp_path):
    store = RunStore(tmp_path / "store")
    data = synthetic()
    large = RunConfig(model="resnet20", width=0.25, epochs=2, batch_size=32)
    chain = run_chain(store, large, "magnitude", {"fraction": 0.8}, "smoke",
                        variants=("fine-tuned", "scratch-e", "scratch-b", "winning-ticket"), data=data, progress=False)
    assert 1 - chain.flops_pruned / chain.flops_large > 0.5  # FLOPs saved
    epochs_b = chain.runs["scratch-b"].config.epochs
    assert epochs_b == scratch_b_epochs(chain.flops_large, chain.flops_pruned, 2) and epochs_b > 2
    masks = chain.plan.masks
    for variant in ("fine-tuned", "scratch-e", "scratch-b", "winning-ticket"):
        final = chain.runs[variant].state_dict()
        for k, m in masks.items():
            assert torch.all(final[k][m == 0] == 0.0), (variant, k)
            assert torch.equal(final[k[:-len("weight")] + "weight_mask"], m)
    # the ticket starts from the large model's init restricted to the mask; Scratch-E from a fresh,
    # fan-in-rescaled init with the same mask
    large_init = chain.large.state_dict("init")
    ticket_start = store.init_state(chain.runs["winning-ticket"].config)
    scratch_start = store.init_state(chain.runs["scratch-e"].config)
    for k, m in masks.items():
        assert torch.equal(ticket_start[k], large_init[k] * m)
        assert torch.all(scratch_start[k][m == 0] == 0)
        density = m.mean().item()
        ratio = scratch_start[k][m == 1].std() / large_init[k].std()
        if m.numel() > 2000:
            assert ratio.item() == pytest.approx(1 / math.sqrt(density), rel=0.25)
    ft = chain.runs["fine-tuned"]
    assert ft.config.parent == chain.large.run_id and ft.config.lr == 0.001 and ft.config.milestones == ()
    again = run_chain(store, large, "magnitude", {"fraction": 0.8}, "smoke",
                        variants=("fine-tuned", "scratch-e", "scratch-b", "winning-ticket"), data=data, progress=False)
    assert {k: r.run_id for k, r in again.runs.items()} == {k: r.run_id for k, r in chain.runs.items()}
