"""Active learning replay on the 120 published confined-electrolyte profiles.

The profiles are a pool; "simulating" a point answers it from the data set. From the
same random start, points are added in batches chosen by a strategy, the surrogate is
updated (warm start), and the number of samples needed to first reach the target
within-error-bar accuracy on a fixed held-out set is recorded, per strategy and seed.
This benchmarks the selection strategy; it stands in for no campaign test.

    python3 benchmarks/bench_active_learning.py [--seeds 3] [--target 0.95]

Writes ``benchmarks/results/active_learning.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hoomd_mlx.coupling import Surrogate, within_error_bar_accuracy
from hoomd_mlx.coupling.active import STRATEGIES
from hoomd_mlx.electrolyte import load_nanoconfinement_profiles


def replay(
    strategy: str, seed: int, target: float, start: int, batch: int, held_out: np.ndarray, data
) -> dict:
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(len(data.X)), held_out)
    taken = rng.choice(pool, size=start, replace=False)
    remaining = np.setdiff1d(pool, taken)
    surrogate = Surrogate(nonnegative=True, seed=seed, epochs=1500, update_epochs=400)
    surrogate.fit(data.X[taken], data.Y[taken], data.error[taken])
    curve = []
    while True:
        mean, _ = surrogate.predict(data.X[held_out])
        accuracy = within_error_bar_accuracy(mean, data.Y[held_out], data.error[held_out])
        curve.append((len(taken), accuracy))
        print(f"  {strategy:>13} seed {seed}: {len(taken):3d} samples -> {accuracy:.4f}", flush=True)
        if accuracy >= target or len(remaining) == 0:
            break
        pick = remaining[STRATEGIES[strategy](surrogate, data.X[remaining], batch, rng)]
        surrogate.update(data.X[pick], data.Y[pick], data.error[pick])
        taken = np.concatenate([taken, pick])
        remaining = np.setdiff1d(remaining, pick)
    reached = curve[-1][0] if curve[-1][1] >= target else None
    return {"strategy": strategy, "seed": seed, "samples_to_target": reached, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--start", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--strategies", nargs="*", default=["random", "disagreement"])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "active_learning.json"))
    args = parser.parse_args()
    data = load_nanoconfinement_profiles()
    held_out = np.random.default_rng(12345).choice(len(data.X), size=30, replace=False)
    runs = []
    start = time.time()
    for seed in range(args.seeds):
        for strategy in args.strategies:
            runs.append(replay(strategy, seed, args.target, args.start, args.batch, held_out, data))
    summary = {}
    for strategy in args.strategies:
        needed = [r["samples_to_target"] or 90 for r in runs if r["strategy"] == strategy]
        summary[strategy] = {"samples": needed, "mean": float(np.mean(needed))}
    if "random" in summary and "disagreement" in summary:
        summary["ratio_active_to_random"] = summary["disagreement"]["mean"] / summary["random"]["mean"]
    report = {"target": args.target, "summary": summary, "runs": runs, "seconds": time.time() - start}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
