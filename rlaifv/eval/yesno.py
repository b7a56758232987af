"""Ground-truth yes/no labels, checked once for every yes/no metric (ShapesWorld, AMBER)."""
from __future__ import annotations

from collections.abc import Sequence


def yes_no_truth(predictions: Sequence, answers: Sequence, metric: str) -> list[str]:
    """Lower-cased "yes"/"no" labels; errors name the bad row ("row i: ...", which callers prefix)."""
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions but {len(answers)} answers")
    if not predictions:
        raise ValueError(f"{metric} needs at least one prediction")
    truth = []
    for i, answer in enumerate(answers):
        label = answer.strip().lower() if isinstance(answer, str) else None
        if label not in ("yes", "no"):
            raise ValueError(f"row {i}: answer {answer!r} is not 'yes' or 'no'")
        truth.append(label)
    return truth
