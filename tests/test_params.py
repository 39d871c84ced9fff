"""List and mapping parameters typed on papermill's command line arrive as strings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbprune import experiments as grids
from nbprune.params import parse_param, slurm_options
from nbprune.presets import get_preset, resolve_seeds

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_parse_param_json_yaml_and_values_untouched():
    assert parse_param("seeds", "[0, 1]", list, "[0]") == [0, 1]
    assert parse_param("targets", "[resnet56-b]", list, "[x]") == ["resnet56-b"]  # YAML
    assert parse_param("lrs", "[1e-2]", list, "[x]") == [0.01]  # JSON first: YAML 1.1 reads 1e-2 as a string
    assert parse_param("fractions", '{"vgg19": [0.7]}', dict, "{}") == {"vgg19": [0.7]}
    assert parse_param("seeds", (0, 1), list, "[0]") == (0, 1) and parse_param("seeds", None, list, "[0]") is None
    with pytest.raises(ValueError, match=r"^targets: must be a list, got the string 'resnet56-b'; .*"
                                         r"\(with papermill: -y 'targets: \[resnet56-b\]'\)$"):
        parse_param("targets", "resnet56-b", list, "[resnet56-b]")


VALID = [
    (lambda v: grids.l1_grid(v), '["resnet56-b"]', 1),
    (lambda v: resolve_seeds(v, get_preset("quick")), "[0, 1]", 2),
    (lambda v: grids.slimming_grid(v), "{vgg19: [0.5, 0.7]}", 2),
    (lambda v: grids.magnitude_grid(v), '{"vgg19": [0.3]}', 1),
    (lambda v: grids.search_grid(v), "[0.5]", 2),
    (lambda v: grids.lottery_grid(get_preset("quick"), v), "[0.1, 0.01]", 6),  # per lr: VGG-16-A, one-shot and iterative
    (lambda v: slurm_options(v), "{partition: gpu, gpus: 1}", 2),
]


@pytest.mark.parametrize("fn, text, n", VALID)
def test_every_list_or_mapping_parameter_accepts_a_string_that_parses(fn, text, n):
    assert len(fn(text)) == n


@pytest.mark.parametrize("fn, text, name", [
    (lambda v: grids.l1_grid(v), "resnet56-b", "targets"),
    (lambda v: resolve_seeds(v, get_preset("quick")), "0,1", "seeds"),
    (lambda v: grids.slimming_grid(v), "vgg19=0.7", "fractions"),
    (lambda v: grids.magnitude_grid(v), "[0.3]", "fractions"),
    (lambda v: grids.search_grid(v), "0.5", "fractions"),
    (lambda v: grids.lottery_grid(get_preset("quick"), v), "0.1, 0.01", "lrs"),
    (lambda v: slurm_options(v), "partition=gpu", "slurm"),
])
def test_a_string_that_does_not_parse_says_how_to_pass_it_with_y(fn, text, name):
    with pytest.raises(ValueError) as e:
        fn(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{name}: ") and f"-y '{name}: " in msg


def test_a_mapping_value_that_is_not_a_list_is_one_value_error():
    with pytest.raises(ValueError, match=r"fractions: 0.7 for vgg19 must be a list"):
        grids.slimming_grid("vgg19: 0.7")
    with pytest.raises(ValueError, match=r"fractions: 0.3 for vgg19 must be a list"):
        grids.magnitude_grid({"vgg19": 0.3})


def _parameters(notebook: Path) -> dict[str, str]:
    """The parameters cell of a chapter: name -> the line that sets it."""
    cell = notebook.read_text().split('# %% tags=["parameters"]\n', 1)[1].split("\n# %%", 1)[0]
    return {m.group(1): line for line in cell.splitlines() if (m := re.match(r"^(\w+) = ", line))}


HANDLED = {"targets", "seeds", "fractions", "lrs", "slurm", "models"}  # the ones passed through parse_param


def test_every_list_or_mapping_parameter_of_every_chapter_is_handled():
    found = set()
    for nb in sorted(NOTEBOOKS.glob("*.py")):
        for name, line in _parameters(nb).items():
            value, _, comment = line.partition("#")
            if re.search(r"[\[{]", value) or re.search(r"\blist\b|\bmapping\b|\{|\[[\"\d]", comment):
                found.add(name)
    assert found and found <= HANDLED, found - HANDLED
