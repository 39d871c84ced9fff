"""The variant registry: one record per variant carries its label, order, ledger text, claims and derivation."""

from __future__ import annotations

import pytest

from nbprune import variants
from nbprune.pipeline import ALL_VARIANTS, RETRAINING, derived_configs
from nbprune.presets import get_preset
from nbprune.prune import PrunePlan
from nbprune.train import RunConfig
from nbprune.variants import (
    get_variant,
    list_variants,
    pair_claim,
    register_variant,
    side_name,
    variant_label,
    variant_table,
    variants_in,
)


def test_the_registered_variants_in_table_order():
    assert list_variants() == ["unpruned", "sfp-trained", "pruned", "fine-tuned", "fine-tune-80", "fine-tune-160",
                               "lr-rewinding", "slr", "clr", "scratch-e", "scratch-b", "winning-ticket",
                               "rewound-ticket", "random-init"]
    # the two rows that are not derived from a plan cannot be asked of a chain
    assert set(list_variants()) - set(ALL_VARIANTS) == {"unpruned", "sfp-trained"}
    assert RETRAINING == variants_in("retraining") == ("lr-rewinding", "slr", "clr")
    assert variants_in("longer fine-tuning") == ("fine-tune-80", "fine-tune-160")


def test_texts_and_claims_come_from_the_records():
    assert variant_label("scratch-b") == "Scratch-B" and variant_label("random + slr") == "random + slr"
    assert side_name("scratch-e") == "scratch" and side_name("winning-ticket") == "winning ticket"
    assert pair_claim("scratch-e", "pruned") == "a >= b"
    assert pair_claim("winning-ticket", "random-init") == "a <= b"
    assert pair_claim("clr", "scratch-b") == "a > b"
    assert pair_claim("fine-tuned", "scratch-e") is None  # the claims are directed: a is the registering side
    assert get_variant("pruned").includes == "sfp-trained" and get_variant("scratch-e").includes is None
    table = variant_table()
    assert table.loc["scratch-e", "claims"] == "Scratch-E >= Fine-tuned; Scratch-E >= Pruned"


def test_bad_names_and_records_are_one_line():
    with pytest.raises(ValueError, match="variant: unknown 'scratch-c'; did you mean 'scratch-e'"):
        get_variant("scratch-c")
    with pytest.raises(ValueError, match="group: unknown 'retrain'"):
        variants_in("retrain")
    with pytest.raises(ValueError, match="variant: 'fine-tuned' is empty or already registered"):
        register_variant("fine-tuned", "x", 0, "x", "red")
    with pytest.raises(ValueError, match="claims: .* must be \\(variant, claim\\)"):
        register_variant("new-one", "New", 99, "x", "red", claims=(("fine-tuned", "a >> b"),))
    assert "new-one" not in list_variants()


def test_a_registered_variant_is_derived_by_the_pipeline(monkeypatch):
    """A new variant is one registration: derived_configs builds its run from its derive, and the old names
    still refuse an unknown one by name."""
    monkeypatch.setattr(variants, "_VARIANTS", dict(variants._VARIANTS))
    register_variant("long-fine-tuned", "Long fine-tuned", 3.5, "train large + prune + fine-tune 2F", "tab:cyan",
                     derive=lambda d: {**variants._fine_tuned(d), "epochs": 2 * d.finetune_epochs},
                     includes="unpruned", claims=(("fine-tuned", "a >= b"),))
    large = RunConfig(model="vgg16", epochs=4, width=0.125)
    plan = PrunePlan("magnitude", "vgg16", None, masks={"features.0.weight": [1]})  # unstructured: no cfg
    configs = derived_configs(large, plan, {"method": "magnitude", "fraction": 0.2}, 10, 8, get_preset("cpu"),
                              ("fine-tuned", "long-fine-tuned"))
    assert configs["long-fine-tuned"].epochs == 2 * configs["fine-tuned"].epochs
    assert configs["long-fine-tuned"].init == "parent" and pair_claim("long-fine-tuned", "fine-tuned") == "a >= b"
    assert list_variants().index("long-fine-tuned") == list_variants().index("fine-tuned") + 1
    with pytest.raises(ValueError, match="variants: unknown 'unpruned'; allowed: pruned, fine-tuned"):
        derived_configs(large, plan, {"method": "magnitude"}, 10, 8, get_preset("cpu"), ("unpruned",))


def test_methods_register_their_stage_pattern_and_search_comparisons():
    """The guided follow-ups and chapter 4's comparisons read the methods' registrations, not name lists."""
    from nbprune import report
    from nbprune.prune import method_info, register_method, search_comparisons

    assert report.search_comparisons() == search_comparisons() == [
        ("slimming", "uniform-channels", "a > b"), ("guided-channels", "uniform-channels", "a > b"),
        ("guided-channels", "slimming", "a = b"), ("magnitude", "uniform-sparsity", None),
        ("guided-sparsity", "uniform-sparsity", None)]
    assert (method_info("slimming").stage_pattern, method_info("magnitude").stage_pattern,
            method_info("l1").stage_pattern) == ("keep", "sparsity", None)
    with pytest.raises(ValueError, match="stage_pattern: must be None or one of keep, sparsity, got 'widths'"):
        register_method("x", stage_pattern="widths")
