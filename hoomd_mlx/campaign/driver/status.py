"""``hoomd-mlx campaign status``: what a campaign ledger says, fast on any size."""

from __future__ import annotations

from pathlib import Path

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.errors import ConfigurationError

__all__ = ["campaign_status", "format_status"]


def campaign_status(directory: str | Path, *, max_listed: int = 20) -> dict:
    """Counts by state, attempts histogram, running jobs and failures (at most ``max_listed`` each)."""
    path = Path(directory) / Ledger.FILENAME
    if not path.exists():
        raise ConfigurationError(f"{directory} is not a campaign directory (no {Ledger.FILENAME})")
    with Ledger(path) as ledger:
        running = [
            {
                "id": job.id,
                "worker": job.worker,
                "checkpoint_step": job.checkpoint_step,
                "attempts": job.attempts,
                "preemptions": job.preemptions,
            }
            for job in ledger.jobs("running", limit=max_listed)
        ]
        failed = [
            {
                "id": job.id,
                "attempts": job.attempts,
                "failures": job.failures,
                "error": ((job.error or "").strip().splitlines() or [""])[-1],
            }
            for job in ledger.jobs("failed", limit=max_listed)
        ]
        workers = ledger.workers()
        return {
            "name": ledger.meta("name"),
            "counts": ledger.counts(),
            "attempts": ledger.attempts_histogram(),
            **ledger.totals(),
            "running": running,
            "failed": failed,
            "workers": [
                {k: w[k] for k in ("slurm_job", "name", "address", "state", "cause")}
                for w in workers[-max_listed:]
            ],
            "worker_jobs": len(workers),
            "lost_workers": ledger.lost_workers(),
        }


def format_status(status: dict) -> str:
    """A human-readable rendering of `campaign_status`."""
    counts = status["counts"]
    total = sum(counts.values())
    lines = [f"campaign {status['name']}: {total} jobs"]
    lines.append("  " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    lines.append(
        f"  attempts per job: {dict(sorted(status['attempts'].items()))}; "
        f"lost workers {status['preemptions']}, job failures {status['job_failures']}"
    )
    if status.get("workers"):
        lost = ", ".join(f"{cause} {n}" for cause, n in sorted(status["lost_workers"].items())) or "none"
        lines.append(
            f"worker jobs (SLURM): {status['worker_jobs']}; ended during the campaign by cause: {lost}"
        )
        for w in status["workers"]:
            cause = f" ({w['cause']})" if w["cause"] else ""
            where = f"{w['name'] or '?'} at {w['address'] or '?'}"
            lines.append(f"  job {w['slurm_job']} {w['state'] or '?'}{cause}: {where}")
    if status["running"]:
        lines.append("running:")
        for r in status["running"]:
            where = r["worker"] or "?"
            lines.append(
                f"  {r['id']} on {where}: checkpoint step {r['checkpoint_step']}, attempt {r['attempts']}"
            )
    if status["failed"]:
        lines.append("failed:")
        lines += [f"  {f['id']} after {f['failures']} failures: {f['error']}" for f in status["failed"]]
    return "\n".join(lines)
