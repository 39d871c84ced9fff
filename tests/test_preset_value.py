"""The preset travels as a value: what differs between presets is a field of the record, never its name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nbprune.chapters import CHAPTERS, chapter_grid
from nbprune.presets import PRESETS, get_preset


def test_chapter_4s_fractions_are_fields_of_the_preset():
    assert {n: p.search_fractions for n, p in PRESETS.items() if not p.full_grid} == {
        "smoke": (0.4, 0.7), "cpu": (0.4, 0.5, 0.6, 0.7), "quick": (0.4, 0.5, 0.6, 0.7)}
    assert {n: p.transfer_fractions for n, p in PRESETS.items()} == {
        "smoke": (0.4,), "cpu": (0.5,), "quick": (0.5,), "paper": None}
    labels = [e.label for e in chapter_grid("architecture_search", "cpu")]
    assert labels == [f"{m} {f}%" for f in (40, 50, 60, 70) for m in ("slimming", "uniform")]


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_renamed_preset_has_the_same_grids(name):
    """No grid branches on the preset's name: a copy under another name names the same runs."""
    p = get_preset(name)
    mine = replace(p, name="mine")
    for chapter in CHAPTERS.values():
        assert chapter.experiments(mine) == chapter.experiments(p), chapter.name
        if chapter.curve is not None:
            assert chapter.curve(mine) == chapter.curve(p), chapter.name


def test_the_followups_transfer_at_the_presets_fractions():
    from nbprune.experiments import experiment

    slim = experiment("slimming 50%", "vgg16", "slimming", {"fraction": 0.5})
    other = experiment("slimming 40%", "vgg16", "slimming", {"fraction": 0.4})
    keep = [(slim, [0.5, 0.5, 0.5, 0.5, 0.5]), (other, [0.6, 0.6, 0.6, 0.6, 0.6])]
    follow = CHAPTERS["architecture_search"].followups

    def transferred(preset):
        return [e.label for e in follow(keep, [], preset, False) if e.model == "vgg19"]

    assert transferred(get_preset("cpu")) == ["transferred 50%"]
    assert transferred(get_preset("smoke")) == ["transferred 40%"]
    assert sorted(transferred(get_preset("paper"))) == ["transferred 40%", "transferred 50%"]
    assert transferred(replace(get_preset("cpu"), transfer_fractions=(0.4, 0.5))) == ["transferred 50%",
                                                                                     "transferred 40%"]
    assert [e.label for e in follow(keep, [], get_preset("cpu"), True) if e.model == "vgg19"] == []  # custom grid
