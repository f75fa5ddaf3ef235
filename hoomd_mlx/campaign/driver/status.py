"""``hoomd-mlx campaign status``: what a campaign ledger says, fast on any size."""

from __future__ import annotations

from pathlib import Path

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.errors import ConfigurationError

__all__ = ["campaign_costs", "campaign_status", "format_status"]


def campaign_costs(ledger: Ledger) -> dict:
    """The price of the campaign's answers (`hoomd_mlx.cloud.answers`): simulated and from the surrogate.

    Priced with the spec's ``[cloud]`` table when it has one, else the cheapest preemptible
    vCPU of the price table; ``{"unavailable": why}`` when the price table cannot be read.
    """
    from hoomd_mlx.cloud.answers import answer_costs
    from hoomd_mlx.cloud.settings import CloudSettings

    cores = int(ledger.meta("cores_per_job") or 1)
    surrogate = sum(float(v.get("seconds", 0.0)) for v in ledger.surrogate_versions())
    surrogate += float(ledger.meta("prediction_seconds") or 0.0)
    cloud = ledger.meta("cloud")
    try:
        settings = CloudSettings.from_mapping(cloud) if cloud else None
        simulated, seconds = ledger.runtime_total("done")
        costs = answer_costs(simulated, cores * seconds, ledger.counts()["predicted"], surrogate, settings)
    except ConfigurationError as err:
        return {"unavailable": str(err)}
    return costs.to_dict()


def _surrogate(ledger: Ledger) -> dict | None:
    versions = ledger.surrogate_versions()
    if not versions:
        return None
    last = versions[-1]
    keys = ("version", "samples", "validation", "accuracy", "ceiling", "completion", "completion_error")
    targets = ledger.meta("surrogate_settings") or {}
    return {
        **{k: last.get(k) for k in keys},
        "versions": len(versions),
        "target": targets.get("target"),
        "completion_target": targets.get("completion"),
        "validation_known": last.get("validation_known"),
        "validation_known_met": last.get("validation_known_met"),
    }


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
            "surrogate": _surrogate(ledger),
            "costs": campaign_costs(ledger),
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
    lines += _format_surrogate(status.get("surrogate"))
    costs = status.get("costs")
    if costs and "unavailable" in costs:
        lines.append(f"cost: not priced ({costs['unavailable']})")
    elif costs:
        from hoomd_mlx.cloud.answers import AnswerCosts, format_costs

        lines += format_costs(AnswerCosts(**costs))
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


def _format_surrogate(surrogate: dict | None) -> list[str]:
    if not surrogate:
        return []
    target = f" (target {surrogate['target']:g})" if surrogate.get("target") is not None else ""
    lines = [
        f"surrogate v{surrogate['version']} ({surrogate['versions']} retrains): {surrogate['samples']} "
        f"simulations, validation accuracy {surrogate['accuracy']:.3f}{target}"
    ]
    if surrogate.get("completion") is not None:
        wanted = surrogate.get("completion_target")
        goal = f" (stop at {wanted:g})" if wanted is not None else ""
        lines.append(
            f"  design space known: {surrogate['completion']:.3f} ± {surrogate['completion_error']:.3f}"
            f"{goal}; "
            f"validation jobs declared known: {surrogate['validation_known']}, of which "
            f"{surrogate['validation_known_met']} within the tolerance"
        )
    return lines
