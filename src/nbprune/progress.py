"""One progress bar over the runs a chapter trains, with an ETA from the measured training rates.

A grid is trained stage by stage (derived runs are named once their parents finish), so :class:`RunsBar`
grows as stages appear: each run counts with its projected training time, its FLOPs
(:func:`nbprune.projection.training_flops`) over the rate the store's finished runs of its width and model were
trained at on this device kind (:func:`nbprune.projection.measured_rate`; an assumed rate without any). tqdm's
remaining time is then the projected time left, corrected by how fast the projection has been going so far.
It is :mod:`tqdm.auto`'s bar: text in a terminal, a widget in Jupyter.
"""

from __future__ import annotations

from collections.abc import Iterable

from .graph import Node
from .projection import measured_rate, measured_totals, training_flops
from .runs import RunStore


class RunsBar:
    """A bar over the runs of :meth:`add`, advanced by :meth:`done` as each finishes."""

    def __init__(self, store: RunStore, device: str = "cpu", desc: str = "runs", enabled: bool = True):
        self.store, self.device, self.enabled = store, device, enabled
        self.totals: dict | None = None  # the store's measured rates, read once a stage is about to train
        self.cost: dict[str, float] = {}
        self.finished = 0
        self.bar = None
        self.desc = desc

    def seconds(self, node: Node) -> float:
        """The projected training time of ``node``'s run at its width and model's measured rate."""
        cfg = node.config
        if self.totals is None:
            self.totals = measured_totals(self.store, self.device)
        rate, _ = measured_rate(self.store, self.device, width=cfg.width, model=cfg.model, totals=self.totals)
        return training_flops(cfg) / rate

    def add(self, nodes: Iterable[Node]) -> None:
        """Count ``nodes`` (a stage about to train) into the bar's total."""
        new = [n for n in nodes if n.run_id not in self.cost]
        if not self.enabled or not new:
            return
        for n in new:
            self.cost[n.run_id] = self.seconds(n)
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=0.0, desc=self.desc, unit="s", dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")
        self.bar.total = sum(self.cost.values())
        self._postfix()

    def done(self, node: Node, outcome: dict | None = None) -> None:
        """One run ended: advance by its projected time."""
        if self.bar is None or node.run_id not in self.cost:
            return
        self.finished += 1
        self.bar.update(self.cost[node.run_id])
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"{self.finished}/{len(self.cost)} runs", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> RunsBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
