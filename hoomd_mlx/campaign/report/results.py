"""What a campaign report shows of the jobs' results: which columns, their error bars, their figures.

The rule for columns (`result_columns`):

- A scalar result ``X`` is a **result** and gets a figure and a table column.
- ``X_err`` (the job's error bar of ``X``, e.g. a standard error) and ``X_std`` (a
  surrogate's ensemble spread, for predicted points) are **error bars** of ``X``, shown
  with it (``value ± error``), never on their own; without an ``X`` they are results.
- **Bookkeeping** -- names in `BOOKKEEPING` and those the spec's ``[report] bookkeeping``
  lists -- is left out (``campaign export`` has every column).
- A spec's ``[report] results`` list, when given, names the results exactly, in order.

Analyses' curves (``jobs/<id>/analysis.npz``, described by
`hoomd_mlx.campaign.config.analyses.ANALYSES`) are drawn one curve per state point
(`plot_analysis_curves`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BOOKKEEPING",
    "ERROR_SUFFIXES",
    "ResultColumns",
    "job_table",
    "plot_analysis_curves",
    "plot_results",
    "result_columns",
]

BOOKKEEPING = frozenset(
    {
        "final_step",
        "step",
        "steps",
        "timestep",
        "frames",
        "n_frames",
        "seconds",
        "wall",
        "wall_seconds",
        "wall_time",
        "runtime",
        "elapsed",
        "steps_per_second",
        "tps",
        "attempt",
        "seed",
        "resumed_from",
    }
)
"""frozenset: Result names that describe the run, not the physics: never plotted."""

ERROR_SUFFIXES = ("_err", "_std")
"""tuple: Suffixes of a result's error bar: the job's own (``_err``), a surrogate's spread (``_std``)."""

MAX_PANELS = 12
"""int: Panels (state points of the other parameters) at most in one analysis figure."""


@dataclass(frozen=True)
class ResultColumns:
    """The design parameters and results a report shows, and the error-bar key of each result."""

    parameters: tuple[str, ...]
    results: tuple[str, ...]
    errors: Mapping[str, tuple[str, ...]]

    def error(self, job, key: str) -> float | None:
        """Float | None: ``key``'s error bar in ``job`` (its ``_err``, else its ``_std``), if it has one."""
        result = job.result or {}
        for name in self.errors.get(key, ()):
            value = result.get(name)
            if _scalar(value):
                return float(value)
        return None


def _scalar(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def result_columns(jobs, settings: Mapping[str, Sequence[str]] | None = None) -> ResultColumns:
    """ResultColumns: The parameters and results of ``jobs`` by the module's rule.

    Args:
        jobs: Ledger records (`hoomd_mlx.campaign.driver.ledger.JobRecord`).
        settings: The spec's ``[report]`` table (``results``, ``bookkeeping``), if any.
    """
    settings = settings or {}
    names = sorted({k for job in jobs for k in job.params})
    scalars = {k for job in jobs for k, v in (job.result or {}).items() if _scalar(v)}
    companions = {k for k in scalars for s in ERROR_SUFFIXES if k.endswith(s) and k[: -len(s)] in scalars}
    hidden = BOOKKEEPING | set(settings.get("bookkeeping", ()))
    declared = tuple(settings.get("results", ()))
    if declared:
        results = tuple(k for k in declared if k in scalars)
    else:
        results = tuple(sorted(k for k in scalars - companions if k not in hidden))
    errors = {k: tuple(k + s for s in ERROR_SUFFIXES if k + s in scalars) for k in results}
    return ResultColumns(tuple(names), results, errors)


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def job_table(jobs, columns: ResultColumns) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(header, rows): one row per job, results as ``value ± error`` where the job gives one."""
    predicted = any(j.state == "predicted" for j in jobs)
    header = ("id", *columns.parameters, *columns.results, *(("answered by",) if predicted else ()))
    rows = []
    for job in jobs:
        result = job.result or {}
        cells = [job.id, *(_format(job.params.get(n, "")) for n in columns.parameters)]
        for key in columns.results:
            value, error = result.get(key), columns.error(job, key)
            if not _scalar(value):
                cells.append("")
            else:
                cells.append(f"{value:.4g}" + (f" ± {error:.2g}" if error is not None else ""))
        if predicted:
            cells.append("surrogate" if job.state == "predicted" else "simulation")
        rows.append(tuple(cells))
    return header, tuple(rows)


def _label(names, values) -> str:
    return ", ".join(f"{n}={_format(v)}" for n, v in zip(names, values, strict=True))


def plot_results(plt, jobs, columns: ResultColumns, output: Path) -> list[tuple[str, str]]:
    """One figure per result against the first parameter, one line per combination of the others.

    Error bars where the job reports one (``X_err``); design points answered by the surrogate
    are black crosses with its spread (``X_std``). Returns (file, caption) pairs.
    """
    if not columns.parameters:
        return []
    x_name, others = columns.parameters[0], columns.parameters[1:]
    figures = []
    for key in columns.results:
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        groups: dict[tuple, list] = {}
        for job in jobs:
            if _scalar((job.result or {}).get(key)) and x_name in job.params:
                label = tuple(job.params.get(o) for o in others)
                error = columns.error(job, key)
                groups.setdefault(label, []).append((job.params[x_name], job.result[key], error, job.state))
        barred = predicted = False
        for label, points in sorted(groups.items(), key=lambda kv: str(kv[0])):
            points.sort(key=lambda p: p[0])
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            errs = [p[2] or 0.0 for p in points]
            barred |= any(p[2] is not None for p in points)
            ax.errorbar(xs, ys, yerr=errs, fmt="o-", ms=4, capsize=3, label=_label(others, label) or key)
            marked = [(x, y) for x, y, _, state in points if state == "predicted"]
            if marked:
                predicted = True
                ax.plot(*zip(*marked, strict=True), "x", color="k", ms=7)
        ax.set_xlabel(x_name)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if len(groups) > 1:
            ax.legend(fontsize="small")
        name = f"result_{key}.png"
        fig.savefig(output / name, dpi=110)
        plt.close(fig)
        caption = f"{key} against {x_name}" + (f", one line per {', '.join(others)}" if others else "")
        if barred:
            caption += f"; error bars: {' / '.join(columns.errors[key])} as the jobs report them"
        if predicted:
            caption += "; black crosses: answered by the surrogate"
        figures.append((name, caption + "."))
    return figures


def _curves(directory: Path, jobs) -> dict[str, list[tuple]]:
    """Kind -> [(job, arrays of that kind)] over the jobs that saved ``analysis.npz``."""
    from hoomd_mlx.campaign.config.analyses import ANALYSES

    found: dict[str, list[tuple]] = {}
    for job in jobs:
        path = directory / "jobs" / job.id / "analysis.npz"
        if not path.exists():
            continue
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        for kind in ANALYSES:
            mine = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(kind + ".")}
            if ANALYSES[kind].curve.x in mine and ANALYSES[kind].curve.y in mine:
                found.setdefault(kind, []).append((job, mine))
    return found


def plot_analysis_curves(plt, jobs, columns: ResultColumns, directory: Path, output: Path) -> list:
    """One figure per analysis: a panel per state point of the other parameters, a curve per first one.

    Returns (file, caption) pairs (``analysis_<kind>.png``).
    """
    from matplotlib.lines import Line2D

    from hoomd_mlx.campaign.config.analyses import ANALYSES

    names = columns.parameters
    x_name, others = (names[0], names[1:]) if names else ("", ())
    figures = []
    for kind, entries in _curves(directory, jobs).items():
        curve = ANALYSES[kind].curve
        panels: dict[tuple, list] = {}
        for job, arrays in entries:
            panels.setdefault(tuple(job.params.get(o) for o in others), []).append((job, arrays))
        keys = sorted(panels, key=str)
        shown = keys[:MAX_PANELS]
        values = sorted({job.params.get(x_name) for job, _ in entries}, key=str)
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(values), 1)))
        color = dict(zip(values, colors, strict=True))
        ncols = min(3, len(shown))
        nrows = -(-len(shown) // ncols)
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows), squeeze=False, sharex=True, sharey=True
        )
        row_names: list[str] = []
        for ax, key in zip(axes.flat, shown, strict=False):
            for job, arrays in sorted(panels[key], key=lambda e: str(e[0].params.get(x_name))):
                x, y = arrays[curve.x], np.atleast_2d(arrays[curve.y])
                err = np.atleast_2d(arrays[curve.error]) if curve.error in arrays else None
                rows = [str(r) for r in arrays[curve.rows]] if curve.rows in arrays else [""] * len(y)
                row_names = rows if len(rows) > len(row_names) else row_names
                c = color[job.params.get(x_name)]
                for r, (values_r, style) in enumerate(zip(y, ("-", "--", ":", "-."), strict=False)):
                    label = _label((x_name,), (job.params.get(x_name),)) if r == 0 and x_name else None
                    ax.plot(x, values_r, style, color=c, lw=1.2, label=label)
                    if err is not None and err[r].any():
                        ax.fill_between(x, values_r - err[r], values_r + err[r], color=c, alpha=0.25, lw=0)
            ax.set_title(_label(others, key) or curve.title, fontsize=9)
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(shown) :]:
            ax.axis("off")
        for ax in axes[-1]:
            ax.set_xlabel(curve.x_label)
        for ax in axes[:, 0]:
            ax.set_ylabel(curve.y_label)
        handles, _ = axes.flat[0].get_legend_handles_labels()
        if len([r for r in row_names if r]) > 1:
            handles += [
                Line2D([], [], color="k", ls=s, label=r)
                for r, s in zip(row_names, ("-", "--", ":", "-."), strict=False)
            ]
        if handles:
            axes.flat[0].legend(handles=handles, fontsize="x-small")
        fig.tight_layout()
        name = f"analysis_{kind}.png"
        fig.savefig(output / name, dpi=110)
        plt.close(fig)
        caption = f"{curve.title} ({kind}) of each simulated state point"
        if others:
            caption += f": one panel per {', '.join(others)}, one curve per {x_name}"
        if curve.error:
            caption += "; bands: block-average error bars"
        if len(keys) > len(shown):
            caption += f"; the first {len(shown)} of {len(keys)} panels"
        figures.append((name, caption + "."))
    return figures
