"""The report's surrogate pages: completion against simulations, the completion map, the cost of answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoomd_mlx.campaign.config.surrogate import SurrogateSettings
from hoomd_mlx.campaign.driver.learner import flatten_outputs, latest_surrogate
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.space import DesignRange, tolerance_at
from hoomd_mlx.campaign.report.document import Block, Paragraph, Table
from hoomd_mlx.coupling.completion import point_band

__all__ = ["cost_blocks", "plot_completion", "plot_completion_map"]


def plot_completion(plt, versions: list[dict], target: float | None, output: Path) -> str | None:
    """Completion (± its sampling error) at every retrain against the simulations it trained on."""
    rows = [v for v in versions if v.get("completion") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    ax.errorbar(
        [v["samples"] for v in rows],
        [v["completion"] for v in rows],
        [v["completion_error"] for v in rows],
        fmt="o-",
        capsize=3,
        label="design space known",
    )
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8, label=f"stop rule ({target:g})")
    ax.set_xlabel("simulations in the training set")
    ax.set_ylabel("share of the design space known")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(output / "completion.png", dpi=110)
    plt.close(fig)
    return "completion.png"


def plot_completion_map(plt, directory: Path, output: Path) -> tuple[str | None, str]:
    """The band over two design parameters (the rest at their middle): (file, caption or why not)."""
    with Ledger.in_directory(directory) as ledger:
        design, raw = ledger.meta("design"), ledger.meta("surrogate_settings")
        chosen = (ledger.meta("report") or {}).get("completion_map")
        done = ledger.jobs("done")
        predicted = ledger.jobs("predicted")
    if not design or not raw:
        return None, "No completion map: the ledger was written before design spaces were recorded."
    model, record, parameters, _, _ = latest_surrogate(directory)
    settings = SurrogateSettings.from_mapping(raw)
    done = [j for j in done if all(o in (j.result or {}) for o in settings.outputs)]
    if len(parameters) < 2 or not done:
        return None, "No completion map: it needs two design parameters and finished simulations."
    first, second = (parameters.index(p) for p in (chosen or parameters[:2]))
    space = DesignRange(design, parameters)
    gx, gy, X = space.grid(first, second)
    X_train = np.array([[float(j.params[p]) for p in parameters] for j in done])
    noise = np.array([flatten_outputs(j.result, settings.outputs, settings.errors) for j in done])
    mean, std = model.predict(X)
    tolerance = tolerance_at(settings, X, mean, X_train, noise)
    calibration = getattr(model, "point_calibration", None)
    width = calibration.half_width(std, tolerance) if calibration else 2.0 * point_band(std, tolerance)
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    from matplotlib.colors import TwoSlopeNorm

    shown = np.minimum(width.reshape(gx.shape), 3.0)  # green: known (<= 1), red: not yet
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=max(2.0, float(shown.max())))
    image = ax.pcolormesh(gx, gy, shown, cmap="RdYlGn_r", norm=norm, shading="auto")
    ax.contour(gx, gy, width.reshape(gx.shape), levels=[1.0], colors="k", linewidths=1.5)
    fig.colorbar(image, ax=ax, label="calibrated 2-sigma band / tolerance (known: <= 1)")
    for jobs, style, label in (
        (done, {"marker": "o", "c": "w", "edgecolors": "k", "linewidths": 0.5}, "simulated"),
        (predicted, {"marker": "x", "c": "0.5"}, "answered by the surrogate"),
    ):
        if jobs:
            names = (parameters[first], parameters[second])
            pts = np.array([[float(j.params[n]) for n in names] for j in jobs])
            ax.scatter(pts[:, 0], pts[:, 1], s=18, label=label, **style)
    ax.set_xlabel(parameters[first])
    ax.set_ylabel(parameters[second])
    ax.legend(fontsize="x-small", loc="upper right", framealpha=0.8)
    fig.savefig(output / "completion_map.png", dpi=110)
    plt.close(fig)
    others = [p for k, p in enumerate(parameters) if k not in (first, second)]
    middle = f"; {', '.join(others)} at the middle of their ranges" if others else ""
    return "completion_map.png", (
        f"Where surrogate v{record['version']} knows the design space: its calibrated two-sigma band over "
        f"the tolerance (known where it is at most 1: green, inside the black line){middle}. Circles: "
        "simulated points; crosses: points answered by the surrogate."
    )


def cost_blocks(costs: dict) -> list[Block]:
    """The cost of answers (`hoomd_mlx.campaign.driver.status.campaign_costs`) as report blocks."""
    if not costs:
        return []
    if "unavailable" in costs:
        return [Paragraph(f"Cost: not priced ({costs['unavailable']}).")]
    kind = "preemptible" if costs["preemptible"] else "on-demand"
    rows = [
        (
            "simulated",
            str(costs["simulated"]),
            f"{costs['core_hours']:.3g}",
            f"{costs['simulated_cost']:.3g}",
            f"{costs['per_simulated_answer']:.2e}",
        ),
    ]
    if costs["predicted"]:
        rows.append(
            (
                "surrogate",
                str(costs["predicted"]),
                f"{costs['surrogate_core_hours']:.3g}",
                f"{costs['surrogate_cost']:.3g}",
                f"{costs['per_surrogate_answer']:.2e}",
            )
        )
    return [
        Paragraph(
            f"Cost per answer on {costs['machine']} ({kind}, ${costs['core_hour_price']:.4f} per vCPU-hour; "
            f"simulations pay the preemption overhead x{costs['overhead']:.3f} of the VM lifetime model; "
            "the surrogate pays its training and predictions)."
            + (f" The switch to the surrogate saved ${costs['saved']:.3g}." if costs["predicted"] else "")
        ),
        Table(("source", "answers", "core-hours", "USD", "USD per answer"), tuple(rows), "cost"),
    ]
