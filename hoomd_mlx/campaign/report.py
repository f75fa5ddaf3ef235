"""``hoomd-mlx campaign report``: a Markdown summary with PNG plots, from the ledger alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoomd_mlx.campaign.ledger import Ledger
from hoomd_mlx.campaign.report_profiles import plot_profiles
from hoomd_mlx.campaign.status import campaign_status

__all__ = ["write_report"]


def _numeric(values: list) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _columns(jobs) -> tuple[list[str], list[str]]:
    """Parameter names and scalar result keys over ``jobs``."""
    names = sorted({k for job in jobs for k in job.params})
    keys = sorted({k for job in jobs for k, v in (job.result or {}).items() if isinstance(v, int | float)})
    return names, keys


def _plot_results(plt, jobs, output: Path) -> list[str]:
    """One figure per scalar result: against the first parameter, one line per other combination.

    Design points answered by the surrogate are marked with black crosses.
    """
    names, keys = _columns(jobs)
    if not names or not keys:
        return []
    x_name, others = names[0], names[1:]
    files = []
    for key in keys:
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        groups: dict[tuple, list] = {}
        for job in jobs:
            if key in (job.result or {}):
                label = tuple(job.params.get(o) for o in others)
                groups.setdefault(label, []).append((job.params[x_name], job.result[key], job.state))
        for label, points in sorted(groups.items(), key=lambda kv: str(kv[0])):
            points.sort(key=lambda p: p[0])
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            text = ", ".join(f"{o}={v}" for o, v in zip(others, label, strict=True)) or key
            ax.plot(xs, ys, "o-", label=text)
            predicted = [(x, y) for x, y, state in points if state == "predicted"]
            if predicted:
                ax.plot(*zip(*predicted, strict=True), "x", color="k")
        ax.set_xlabel(x_name)
        ax.set_ylabel(key)
        if len(groups) > 1:
            ax.legend(fontsize="small")
        name = f"result_{key}.png"
        fig.savefig(output / name, dpi=110)
        plt.close(fig)
        files.append(name)
    return files


def _plot_timings(plt, jobs, output: Path) -> str | None:
    runtimes = np.array([j.runtime for j in jobs if j.runtime is not None])
    if runtimes.size == 0:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    left.hist(runtimes, bins=min(30, max(5, runtimes.size // 2)))
    left.set_xlabel("job runtime [s]")
    left.set_ylabel("jobs")
    finished = sorted(
        (j.finished, j.runtime) for j in jobs if j.finished is not None and j.runtime is not None
    )
    if finished:
        t0 = min(f for f, _ in finished)
        right.plot(
            [(f - t0) / 60 for f, _ in finished], np.arange(1, len(finished) + 1), drawstyle="steps-post"
        )
        right.set_xlabel("wall time since first completion [min]")
        right.set_ylabel("jobs done")
    fig.savefig(output / "timings.png", dpi=110)
    plt.close(fig)
    return "timings.png"


def _plot_learning_curve(plt, versions: list[dict], output: Path) -> str | None:
    if not versions:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    samples = [v["samples"] for v in versions]
    ax.plot(samples, [v["accuracy"] for v in versions], "o-", label="surrogate")
    if all("ceiling" in v for v in versions):
        ax.plot(samples, [v["ceiling"] for v in versions], "k--", label="exact surrogate (noise ceiling)")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_xlabel("simulations in the training set")
    scale = versions[-1].get("error_scale", 1.0)
    ax.set_ylabel(
        "validation accuracy: " + ("within the error bars" if scale == 1 else f"within {scale:g} error bars")
    )
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.savefig(output / "learning_curve.png", dpi=110)
    plt.close(fig)
    return "learning_curve.png"


def _savings(jobs: list, versions: list[dict]) -> list[str]:
    predicted = [j for j in jobs if j.state == "predicted"]
    if not versions:
        return []
    runtimes = [j.runtime for j in jobs if j.runtime]
    mean = float(np.mean(runtimes)) if runtimes else 0.0
    last = versions[-1]
    return [
        f"Surrogate: {len(versions)} versions; the last (v{last['version']}) trained on {last['samples']} "
        f"simulations reached validation accuracy {last['accuracy']:.3f}"
        + (f" (an exact surrogate: {last['ceiling']:.3f})." if "ceiling" in last else "."),
        f"{len(predicted)} design points were answered by the surrogate instead of simulated, saving about "
        f"{len(predicted) * mean / 3600:.3f} h of compute ({mean:.1f} s per simulation).",
        "",
    ]


def write_report(directory: str | Path) -> Path:
    """Write ``report/report.md`` and its PNGs into a campaign directory; return the Markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    status = campaign_status(directory)
    output = directory / "report"
    output.mkdir(exist_ok=True)
    with Ledger.in_directory(directory) as ledger:
        every = ledger.jobs()
        jobs = [j for j in every if j.state in ("done", "predicted")]
        figures = _plot_results(plt, jobs, output)
        timing = _plot_timings(plt, every, output)
        versions = ledger.surrogate_versions()
        curve = _plot_learning_curve(plt, versions, output)
    profiles = plot_profiles(plt, jobs, directory, output)
    runtimes = [j.runtime for j in jobs if j.runtime is not None]
    lines = [
        f"# Campaign {status['name']}",
        "",
        "| state | jobs |",
        "|---|---|",
        *[f"| {state} | {n} |" for state, n in status["counts"].items()],
        "",
        f"Compute time: {sum(runtimes) / 3600:.3f} h over {len(runtimes)} simulations "
        f"(mean {np.mean(runtimes) if runtimes else 0:.1f} s). Lost workers: {status['preemptions']}; "
        f"job failures: {status['job_failures']}.",
        "",
    ]
    if status.get("workers"):  # batch-job workers (SLURM): how each one that ended went
        causes = ", ".join(f"{cause} {n}" for cause, n in sorted(status["lost_workers"].items())) or "none"
        lines += [
            f"Worker batch jobs: {status['worker_jobs']}; ended during the campaign by cause: {causes}.",
            "",
        ]
    lines += _savings(jobs, versions)
    if curve:
        lines += [f"![learning curve]({curve})", ""]
    if profiles:
        lines += [
            "Profiles: simulated design points with the surrogate's prediction at the same point (left), "
            "and design points answered by the surrogate with its ensemble spread (right).",
            "",
            f"![profiles]({profiles})",
            "",
        ]
    if timing:
        lines += [f"![timings]({timing})", ""]
    for name in figures:
        lines += [f"![{name}]({name})", ""]
    names, keys = _columns(jobs)
    if jobs:
        lines += [
            "| " + " | ".join(["id", *names, *keys]) + " |",
            "|" + "---|" * (1 + len(names) + len(keys)),
        ]
        for job in jobs:
            cells = [job.id, *[str(job.params.get(n)) for n in names]]
            cells += [f"{job.result.get(k):.4g}" if k in (job.result or {}) else "" for k in keys]
            lines.append("| " + " | ".join(cells) + " |")
    path = output / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
