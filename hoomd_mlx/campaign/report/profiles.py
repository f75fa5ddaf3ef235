"""Report figure for vector results (profiles): simulation and surrogate side by side.

Left column: simulated design points (validation ones first), each with the
newest surrogate's prediction at the same point overlaid. Right column: design
points the surrogate answered, with its ensemble spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoomd_mlx.campaign.workloads import Workload, workload_for

__all__ = ["plot_profiles", "vector_keys"]

ROWS = 3
COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple")


def vector_keys(jobs) -> list[str]:
    """Result keys holding lists of numbers (profiles), without their ``_err``/``_std`` companions."""
    keys = {k for j in jobs for k, v in (j.result or {}).items() if isinstance(v, list) and len(v) > 1}
    return sorted(k for k in keys if not k.endswith(("_err", "_std")))


def _profile(job, key: str, spread: str, workload: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin positions on the workload's axis, values, their ``spread`` companion or zeros) of one vector."""
    y = np.asarray(job.result[key])
    x = workload.vector_x(len(y))
    return x, y, np.asarray(job.result.get(f"{key}_{spread}", np.zeros_like(y)))


def _label(job) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(job.params.items())
    )


def _surrogate_prediction(directory: Path, jobs) -> dict[str, dict]:
    """The newest surrogate's outputs at the given jobs' design points ({} if there is none)."""
    from hoomd_mlx.campaign.driver.learner import latest_surrogate, split_outputs
    from hoomd_mlx.errors import ConfigurationError

    try:
        surrogate, _, parameters, outputs, widths = latest_surrogate(directory)
    except ConfigurationError:  # no surrogate in this campaign
        return {}
    if not jobs:
        return {}
    X = np.array([[float(j.params[p]) for p in parameters] for j in jobs])
    mean, _ = surrogate.predict(X)
    return {j.id: split_outputs(m, outputs, widths) for j, m in zip(jobs, mean, strict=True)}


def plot_profiles(plt, jobs, directory: Path, output: Path) -> str | None:
    """Write ``profiles.png``; return its name, or None when no result is a profile."""
    keys = vector_keys(jobs)
    if not keys:
        return None
    from hoomd_mlx.campaign.driver.learner import is_validation

    done = sorted((j for j in jobs if j.state == "done"), key=lambda j: (not is_validation(j.id), j.id))[
        :ROWS
    ]
    predicted = [j for j in jobs if j.state == "predicted"][:ROWS]
    overlay = _surrogate_prediction(directory, done)
    parameters = sorted({k for j in jobs for k in j.params})
    workload = workload_for(keys, parameters)
    rows = max(len(done), len(predicted), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(10, 2.6 * rows), squeeze=False, sharex=True)
    for row in range(rows):
        left, right = axes[row]
        if row < len(done):
            job = done[row]
            for key, color in zip(keys, COLORS, strict=False):
                x, y, err = _profile(job, key, "err", workload)
                left.errorbar(x, y, yerr=err, color=color, lw=1, elinewidth=0.6, label=f"{key} simulated")
                if job.id in overlay:
                    left.plot(x, overlay[job.id][key], "--", color=color, lw=1, label=f"{key} surrogate")
            left.set_title(f"simulated: {_label(job)}", fontsize=8)
        else:
            left.axis("off")
        if row < len(predicted):
            job = predicted[row]
            for key, color in zip(keys, COLORS, strict=False):
                x, y, std = _profile(job, key, "std", workload)
                right.plot(x, y, "--", color=color, lw=1, label=f"{key} surrogate")
                right.fill_between(x, y - std, y + std, color=color, alpha=0.25)
            right.set_title(f"surrogate: {_label(job)}", fontsize=8)
        else:
            right.axis("off")
    axes[0][0].legend(fontsize="x-small")
    for ax in axes[-1]:
        ax.set_xlabel(workload.vector_axis)
    fig.tight_layout()
    name = "profiles.png"
    fig.savefig(output / name, dpi=110)
    plt.close(fig)
    return name
