"""The campaign layer against an earlier checkout of it: `bench_campaign.py` of each, runs alternating.

    git worktree add /tmp/before <commit>
    python3 benchmarks/campaign_before_after.py --before /tmp/before [--runs 3]

Each run is ``bench_campaign.py`` of one tree with that tree first on ``PYTHONPATH`` (no-op jobs
on 2 local workers: inline jobs/s, subprocess jobs/s, ``campaign status`` on a 100,000-job
ledger). Before and after alternate, so a drift of the machine's speed falls on both. Writes
``benchmarks/results/campaign_before_after.json``: every run, and the mean and standard
deviation of the after/before ratio of each figure over the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIGURES = ("inline_jobs_per_s", "subprocess_jobs_per_s", "status_library_s", "status_cli_s")


def _run(tree: Path, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        command = [sys.executable, str(tree / "benchmarks" / "bench_campaign.py"), "--output", out.name]
        command += ["--jobs", str(args.jobs), "--subprocess-jobs", str(args.subprocess_jobs)]
        subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
        return json.loads(Path(out.name).read_text())


def _figures(report: dict) -> dict[str, float]:
    flat = {}
    for key, value in report.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items() if isinstance(v, int | float)})
        elif isinstance(value, int | float):
            flat[key] = value
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a checkout of the earlier code (git worktree)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--subprocess-jobs", type=int, default=60)
    parser.add_argument("--output", default=str(HERE / "results" / "campaign_before_after.json"))
    args = parser.parse_args()
    after_tree, before_tree = HERE.parent, Path(args.before).resolve()
    runs = []
    for k in range(args.runs):
        pair = {"before": _figures(_run(before_tree, args)), "after": _figures(_run(after_tree, args))}
        runs.append(pair)
        print(json.dumps({"run": k, **pair}), flush=True)
    keys = sorted(set(runs[0]["before"]) & set(runs[0]["after"]))
    ratios = {
        key: [r["after"][key] / r["before"][key] for r in runs if r["before"][key]]
        for key in keys
        if all(isinstance(r["before"].get(key), int | float) for r in runs)
    }
    summary = {
        key: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
        for key, v in ratios.items()
        if v
    }
    report = {
        "before": str(
            subprocess.run(
                ["git", "-C", str(before_tree), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
            ).stdout.strip()
        ),
        "setting": vars(args),
        "runs": runs,
        "after_over_before": summary,
        "note": "jobs/s: higher is better; seconds: lower is better",
    }
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
