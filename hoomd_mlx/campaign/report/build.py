"""``hoomd-mlx campaign report``: a Markdown page with PNG plots and the same as one HTML file.

Everything comes from the campaign directory: the ledger, and the arrays the jobs'
analyses saved (``jobs/<id>/analysis.npz``). Which result columns are shown and with
which error bars is `hoomd_mlx.campaign.report.results`'s rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.status import campaign_status
from hoomd_mlx.campaign.report.document import Block, Figure, Heading, Paragraph, Table, to_html, to_markdown
from hoomd_mlx.campaign.report.profiles import plot_profiles
from hoomd_mlx.campaign.report.results import job_table, plot_analysis_curves, plot_results, result_columns
from hoomd_mlx.campaign.report.surrogate import cost_blocks, plot_completion, plot_completion_map

__all__ = ["write_report"]


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


def _savings(jobs: list, versions: list[dict]) -> list[Block]:
    predicted = [j for j in jobs if j.state == "predicted"]
    if not versions:
        return []
    runtimes = [j.runtime for j in jobs if j.runtime]
    mean = float(np.mean(runtimes)) if runtimes else 0.0
    last = versions[-1]
    return [
        Paragraph(
            f"Surrogate: {len(versions)} versions; the last (v{last['version']}) trained on "
            f"{last['samples']} simulations reached validation accuracy {last['accuracy']:.3f}"
            + (f" (an exact surrogate: {last['ceiling']:.3f})." if "ceiling" in last else ".")
        ),
        Paragraph(
            f"{len(predicted)} design points were answered by the surrogate instead of simulated, saving "
            f"about {len(predicted) * mean / 3600:.3f} h of compute ({mean:.1f} s per simulation)."
        ),
    ]


def _summary(status: dict, jobs: list) -> list[Block]:
    runtimes = [j.runtime for j in jobs if j.runtime is not None]
    blocks: list[Block] = [
        Heading(f"Campaign {status['name']}", level=1),
        Table(("state", "jobs"), tuple((state, str(n)) for state, n in status["counts"].items()), "states"),
        Paragraph(
            f"Compute time: {sum(runtimes) / 3600:.3f} h over {len(runtimes)} simulations "
            f"(mean {np.mean(runtimes) if runtimes else 0:.1f} s). Lost workers: {status['preemptions']}; "
            f"job failures: {status['job_failures']}."
        ),
    ]
    if status.get("workers"):  # batch-job workers (SLURM): how each one that ended went
        causes = ", ".join(f"{cause} {n}" for cause, n in sorted(status["lost_workers"].items())) or "none"
        blocks.append(
            Paragraph(
                f"Worker batch jobs: {status['worker_jobs']}; ended during the campaign by cause: {causes}."
            )
        )
    return blocks


def write_report(directory: str | Path) -> Path:
    """Write ``report/report.md``, ``report/report.html`` and the PNGs; return the Markdown path.

    The HTML page has the same content as the Markdown, its figures embedded: one file to send.
    """
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
        columns = result_columns(jobs, ledger.meta("report"))
        timing = _plot_timings(plt, every, output)
        versions = ledger.surrogate_versions()
        curve = _plot_learning_curve(plt, versions, output)
        wanted = (ledger.meta("surrogate_settings") or {}).get("completion")
        completion = plot_completion(plt, versions, wanted, output)
    completion_map, map_caption = plot_completion_map(plt, directory, output) if versions else (None, "")
    results = plot_results(plt, jobs, columns, output)
    analyses = plot_analysis_curves(plt, jobs, columns, directory, output)
    profiles = plot_profiles(plt, jobs, directory, output)
    blocks = _summary(status, jobs) + _savings(jobs, versions) + cost_blocks(status.get("costs"))
    if curve:
        blocks.append(Figure(curve, "learning curve"))
    if completion:
        blocks.append(
            Figure(
                completion,
                "completion",
                "The share of the design space where the surrogate's calibrated two-sigma band is within the "
                "tolerance, at every retrain (± its sampling error over 8 scrambled Sobol samples of 256 "
                "points).",
            )
        )
    if completion_map:
        blocks.append(Figure(completion_map, "completion map", map_caption))
    elif map_caption:
        blocks.append(Paragraph(map_caption))
    if profiles:
        blocks.append(
            Figure(
                profiles,
                "profiles",
                "Profiles: simulated design points with the surrogate's prediction at the same point (left), "
                "and design points answered by the surrogate with its ensemble spread (right).",
            )
        )
    if results:
        blocks.append(Heading("Results"))
        blocks += [Figure(name, name.removesuffix(".png"), caption) for name, caption in results]
    if analyses:
        blocks.append(Heading("Analyses"))
        blocks += [Figure(name, name.removesuffix(".png"), caption) for name, caption in analyses]
    if jobs:
        header, rows = job_table(jobs, columns)
        blocks += [Heading("Jobs"), Table(header, rows, "jobs")]
    if timing:
        blocks += [Heading("Timings"), Figure(timing, "timings", "Job runtimes, and jobs done over time.")]
    (output / "report.html").write_text(to_html(blocks, output, f"Campaign {status['name']}"))
    path = output / "report.md"
    path.write_text(to_markdown(blocks))
    return path
