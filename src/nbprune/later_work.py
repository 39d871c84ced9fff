"""Chapter 6's setting read from its run: which chains show the schedules and the tickets, the rewinding
point, the random draws and whether learning-rate rewinding is fine-tuning here.

:func:`later_work_setup` is what the notebook's run box and schedule figure state; it reads the chapter's
chains and, for the rewinding snapshots, the run store (:meth:`nbprune.runs.RunStore.rewind_replayed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .pipeline import Chain

if TYPE_CHECKING:  # a type only
    from .runner import ChapterRun

__all__ = ["LaterWorkSetup", "later_work_setup"]


@dataclass(frozen=True)
class LaterWorkSetup:
    """What chapter 6's run was, in the numbers its text states."""

    schedules: Chain  # the first L1-norm chain: the retraining schedules of the first seed (its lr figure)
    ticket: Chain  # the first one-shot magnitude chain: the rewound ticket
    finetune_epochs: int  # F, every schedule's retraining budget
    epochs: int  # E, the large model's
    rewind_step: int  # the step whose weights the rewound ticket starts from
    steps: int  # the large model's steps in all
    draws: int  # random architectures per seed
    larges: int  # the tickets' large models
    replayed: int  # of those, how many predate the snapshots (their first steps replayed)
    rewinding_is_fine_tuning: bool  # learning-rate rewinding is the same runs as fine-tuning here


def later_work_setup(run: ChapterRun) -> LaterWorkSetup:
    """The :class:`LaterWorkSetup` of chapter 6's run; a ValueError naming ``run`` when it has no L1-norm chain
    with the schedules or no magnitude chain with a rewound ticket (another chapter, or its runs missing)."""
    l1 = next((c for e, c in run.chains if e.method == "l1" and "lr-rewinding" in c.runs), None)
    ticket = next((c for e, c in run.chains if e.method == "magnitude" and "rewound-ticket" in c.runs), None)
    if l1 is None or ticket is None:
        raise ValueError(f"run: chapter 6's run has an L1-norm chain with the retraining schedules and a magnitude "
                         f"chain with a rewound ticket; {run.chapter.name!r} has "
                         f"{'no L1-norm chain' if l1 is None else 'no rewound ticket'}")
    p = run.preset
    step = ticket.runs["rewound-ticket"].config.rewind_step
    larges = {c.large.run_id for e, c in run.chains if e.method == "magnitude"}
    return LaterWorkSetup(
        schedules=l1, ticket=ticket, finetune_epochs=p.finetune_epochs, epochs=p.epochs, rewind_step=step,
        steps=l1.large.config.steps_per_epoch() * p.epochs,
        draws=len({dict(e.settings)["draw"] for e, _ in run.chains if e.method == "random-channels"}),
        larges=len(larges), replayed=sum(run.store.rewind_replayed(r, step) for r in larges),
        rewinding_is_fine_tuning=l1.runs["lr-rewinding"].run_id == l1.runs["fine-tuned"].run_id)
