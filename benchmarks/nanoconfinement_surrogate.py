"""Check a confined-electrolyte campaign's surrogate against simulations of the points it answered.

Runs ``campaigns/nanoconfinement.toml`` (unless ``--dir`` already holds it), then simulates
every design point the surrogate predicted, with the same job settings, and compares the
predicted profiles with the simulated ones under the campaign's own metric (the error bar
floors and ``error_scale`` of its ``[surrogate]`` table). Also reports the ceiling: what an
exact surrogate would reach against those simulations' scatter.

    python3 benchmarks/nanoconfinement_surrogate.py [--dir runs/nanoconfinement]

Writes ``benchmarks/results/nanoconfinement_surrogate.json`` and
``docs/nanoconfinement_surrogate.png``.
"""

import argparse
import json
import logging
import tomllib
from pathlib import Path

import numpy as np

from hoomd_mlx.campaign.config.spec import load_spec, spec_from_mapping
from hoomd_mlx.campaign.driver.learner import error_bars, flatten_outputs
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.coupling.surrogate import perfect_accuracy, within_error_bar_accuracy

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "campaigns" / "nanoconfinement.toml"


def _check_spec(points: list[dict]):
    """The campaign's spec with its design replaced by ``points`` and no surrogate."""
    raw = tomllib.loads(SPEC.read_text())
    raw.pop("surrogate")
    raw["campaign"]["name"] += "-check"
    raw["design"] = {"sampler": "list", "points": points}
    return spec_from_mapping(raw, source=SPEC)


def _plot(path: Path, params: list[dict], pred: np.ndarray, sim: np.ndarray, err: np.ndarray, bins: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.linspace(0, len(params) - 1, min(4, len(params))).astype(int)
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.2), layout="constrained")
    z = (np.arange(bins) + 0.5) / bins - 0.5
    for ax, k in zip(np.atleast_1d(axes), picks, strict=True):
        for part, name, color in ((slice(0, bins), "cations", "C3"), (slice(bins, 2 * bins), "anions", "C0")):
            ax.errorbar(z, sim[k, part], err[k, part], color=color, lw=0.8, label=f"{name}, simulated")
            ax.plot(z, pred[k, part], "--", color=color, lw=1.5, label=f"{name}, surrogate")
        p = params[k]
        ax.set_title(f"Z={p['Z']} nm, c={p['c']} M, i={p['i']}", fontsize=9)
        ax.set_xlabel("z / Z (wall to wall)")
    np.atleast_1d(axes)[0].set_ylabel("density [M]")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="runs/nanoconfinement", help="campaign directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    directory = Path(args.dir)
    spec = load_spec(SPEC)
    if not (directory / "ledger.sqlite").exists():
        run_campaign(spec, directory)
    with Ledger.in_directory(directory) as ledger:
        predicted = ledger.jobs("predicted")
        versions = ledger.surrogate_versions()
        simulated = ledger.count("done")
    if not predicted:
        raise SystemExit(f"{directory}: the surrogate answered no design point; nothing to check")
    params = [dict(j.params) for j in predicted]
    run_campaign(_check_spec(params), directory / "check")
    with Ledger.in_directory(directory / "check") as ledger:
        truth = {tuple(sorted(j.params.items())): j.result for j in ledger.jobs("done")}
    s = spec.surrogate
    outputs, errors = s.outputs, s.errors
    pred = np.array([flatten_outputs(j.result, outputs) for j in predicted])
    sim = np.array([flatten_outputs(truth[tuple(sorted(p.items()))], outputs) for p in params])
    noise = np.array([flatten_outputs(truth[tuple(sorted(p.items()))], outputs, errors) for p in params])
    bars = s.error_scale * error_bars(s, sim, noise)
    record = {
        "simulated": simulated,
        "predicted": len(predicted),
        "surrogate_version": versions[-1]["version"],
        "validation_accuracy": versions[-1]["accuracy"],
        "error_scale": s.error_scale,
        "accuracy_on_predicted_points": within_error_bar_accuracy(pred, sim, bars),
        "ceiling": perfect_accuracy(bars, noise),
        "rms_difference_M": float(np.sqrt(np.mean((pred - sim) ** 2))),
        "rms_error_bar_M": float(np.sqrt(np.mean(noise**2))),
    }
    out = ROOT / "benchmarks" / "results" / "nanoconfinement_surrogate.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    _plot(ROOT / "docs" / "nanoconfinement_surrogate.png", params, pred, sim, noise, pred.shape[1] // 2)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
