"""Active learning: which design points to simulate next.

A strategy is a plain callable ``strategy(surrogate, candidates, k, rng) -> indices``
choosing ``k`` rows of ``candidates`` (the design points not simulated yet).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["STRATEGIES", "ensemble_disagreement", "random_selection", "space_filling"]


def random_selection(surrogate, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The baseline: ``k`` candidates uniformly at random."""
    return rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)


def _scaled(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    spread = reference.std(0)
    return (points - reference.mean(0)) / np.where(spread > 0, spread, 1.0)


def space_filling(surrogate, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy maximin: each pick is the candidate farthest from everything sampled or picked."""
    reference = (
        np.concatenate([surrogate.X, candidates])
        if surrogate is not None and surrogate.X is not None
        else candidates
    )
    pool = _scaled(candidates, reference)
    # distance of each candidate to the nearest sampled or picked point (None: nothing yet)
    nearest = (
        cdist(pool, _scaled(surrogate.X, reference)).min(axis=1)
        if surrogate is not None and surrogate.X is not None and len(surrogate.X)
        else None
    )
    chosen: list[int] = []
    for _ in range(min(k, len(candidates))):
        distance = rng.random(len(pool)) if nearest is None else nearest.copy()
        distance[chosen] = -np.inf
        best = int(np.argmax(distance))
        chosen.append(best)
        nearest = _closer(nearest, pool, best)
    return np.array(chosen, dtype=int)


def _closer(nearest: np.ndarray | None, pool: np.ndarray, best: int) -> np.ndarray:
    """``nearest`` (each pool point's distance to the nearest pick) after picking ``best``."""
    d = cdist(pool, pool[[best]])[:, 0]
    return d if nearest is None else np.minimum(nearest, d)


def ensemble_disagreement(surrogate, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Where the ensemble disagrees most (mean predictive std, relative to each output's spread).

    Picks are spread out: after each pick, candidates close to it are discounted, so
    one uncertain region does not take the whole batch.
    """
    _, std = surrogate.predict(candidates)
    spread = surrogate.Y.std(0)
    score = (std / np.where(spread > 0, spread, 1.0)).mean(axis=1)
    pool = _scaled(candidates, np.concatenate([surrogate.X, candidates]))
    chosen: list[int] = []
    nearest = None
    for _ in range(min(k, len(candidates))):
        adjusted = score.copy()
        if nearest is not None:
            adjusted *= 1.0 - np.exp(-(nearest**2))
        adjusted[chosen] = -np.inf
        best = int(np.argmax(adjusted))
        chosen.append(best)
        nearest = _closer(nearest, pool, best)
    return np.array(chosen, dtype=int)


STRATEGIES: dict[str, Callable] = {
    "disagreement": ensemble_disagreement,
    "random": random_selection,
    "space_filling": space_filling,
}
"""dict: Strategies by the name a campaign spec uses."""
