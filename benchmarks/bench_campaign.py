"""Campaign-layer overhead: driver + Dask + ledger, with jobs that do nothing.

Measures on an embedded LocalCluster (the spec's 2 workers):

* jobs/s with ``job.isolation = "inline"`` (the layer itself: submission, results,
  ledger transactions);
* jobs/s with the default subprocess per job (adds a Python process start per job);
* ``campaign status`` on a synthetic 100,000-job ledger (library call and CLI).

    python3 benchmarks/bench_campaign.py [--jobs 2000] [--subprocess-jobs 100]

Writes ``benchmarks/results/campaign.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hoomd_mlx.campaign.config.spec import spec_from_mapping
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.campaign.driver.status import campaign_status

HERE = Path(__file__).parent


def _spec(n: int, isolation: str):
    raw = {
        "campaign": {"name": f"noop-{isolation}"},
        "design": {"sampler": "list", "points": [{"x": k} for k in range(n)]},
        "job": {"function": "noop_job:run", "isolation": isolation},
        "resources": {"workers": 2, "threads_per_worker": 1},
    }
    return spec_from_mapping(raw, source=HERE / "noop.toml")


def throughput(n: int, isolation: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_campaign(_spec(n, isolation), tmp, progress=False)
        wall = time.perf_counter() - start
        loop = summary["wall_seconds"]
    assert summary["counts"]["done"] == n, summary
    return {"isolation": isolation, "jobs": n, "jobs_per_s": n / loop, "including_cluster_start_s": wall}


def status_speed(n: int = 100_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        with Ledger.in_directory(tmp) as ledger:
            ledger.add_jobs({f"{k:016x}": {"x": k, "y": k % 7} for k in range(n)})
            rng = random.Random(1)
            db = ledger._db  # bulk-fill states for the synthetic ledger
            with db:
                db.execute("UPDATE jobs SET state='done', attempts=1, runtime=10.0")
                for k in rng.sample(range(n), 500):
                    db.execute(
                        "UPDATE jobs SET state='running', worker='tcp://w', checkpoint_step=5 WHERE rowid=?",
                        (k,),
                    )
                for k in rng.sample(range(n), 200):
                    db.execute("UPDATE jobs SET state='failed', failures=3, error='boom' WHERE rowid=?", (k,))
        start = time.perf_counter()
        campaign_status(tmp)
        library = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "status", tmp],
            check=True,
            capture_output=True,
        )
        cli = time.perf_counter() - start
    return {"jobs": n, "status_library_s": library, "status_cli_s": cli}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--subprocess-jobs", type=int, default=100)
    parser.add_argument("--output", default=str(HERE / "results" / "campaign.json"))
    args = parser.parse_args()
    report = {
        "inline": throughput(args.jobs, "inline"),
        "subprocess": throughput(args.subprocess_jobs, "subprocess"),
        "status": status_speed(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    for key in ("inline", "subprocess"):
        row = report[key]
        print(f"{key:>10}: {row['jobs_per_s']:7.1f} jobs/s over {row['jobs']} no-op jobs")
    status = report["status"]
    print(
        f"status of a {status['jobs']}-job ledger: {status['status_library_s']:.3f} s (library), "
        f"{status['status_cli_s']:.3f} s (hoomd-mlx campaign status, process start included)"
    )


if __name__ == "__main__":
    main()
