"""Surrogates against interpolation on the 120 published confined-electrolyte profiles, split by split.

Ten random 90/30 splits (seeds 0-9) of ``shared/data/nanoconfinement/profiles.npz``. Each method
sees only the training 90 (every choice of hyperparameters is made inside them) and is scored on
the other 30 with the published within-error-bar accuracy. Methods:

- ``kernel``: `KernelSurrogate` with the channel's physics (`ChannelProfiles`: half profiles
  mirrored, non-negative, scaled to the state point's ion counts; anisotropic polyharmonic
  spline with kernel and input weights chosen by 5-fold cross-validation; jackknife ensemble
  with its spread calibrated by nested cross-validation);
- ``ensemble``: `Surrogate` (Keras deep ensemble, 5 x 128x128, soft-label loss), as documented:
  ``Surrogate(nonnegative=True, seed=split).fit(X, Y, error=E)``;
- ``rbf_cubic``: ``scipy.interpolate.RBFInterpolator``, cubic, standardised inputs, clipped at 0;
- ``linear``: linear interpolation inside the convex hull, nearest neighbour outside;
- ``gp``: scikit-learn ``GaussianProcessRegressor``, one Matern-5/2 kernel with a length scale
  per input plus white noise, shared by all 1004 standardised outputs, fitted by marginal
  likelihood; clipped at 0;
- ``mlp``: a plain MLP like the published one (Kadupitiya et al.): scikit-learn ``MLPRegressor``,
  512-256 ReLU, L2 1e-4 in place of their dropout, standardised inputs and outputs, Adam with
  batches of 16 for up to 300 epochs; clipped at 0.

Also per method: the error of the integrated ion counts against the state point's (the
number of ions is fixed by c, Z and the wall charge) and against the reference profiles'
own integrals; for methods with an uncertainty, the coverage of +-1 and +-2 standard
deviations on the test split. And the time per predicted profile against the MD job time of
the same state point (``benchmarks/results/electrolyte_reference.json``).

    python3 benchmarks/bench_surrogate.py [--splits 10] [--methods kernel,rbf_cubic,...]

Writes ``benchmarks/results/surrogate_splits.json`` and ``docs/surrogate_splits.png``.
About 15 minutes on 2 cores (the Keras models take most of it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hoomd_mlx.coupling.kernel import KernelSurrogate
from hoomd_mlx.coupling.metrics import (
    coverage,
    integrated_counts,
    perfect_accuracy,
    within_error_bar_accuracy,
)
from hoomd_mlx.electrolyte.channel import ChannelProfiles
from hoomd_mlx.electrolyte.data import load_nanoconfinement_profiles

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("kernel", "ensemble", "rbf_cubic", "linear", "gp", "mlp")
LABELS = {
    "kernel": "KernelSurrogate (channel physics)",
    "ensemble": "Surrogate (Keras ensemble)",
    "rbf_cubic": "cubic RBF",
    "linear": "linear + nearest",
    "gp": "Gaussian process",
    "mlp": "MLP 512-256 (published-like)",
}


def _standardise(train, *others):
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mu) / sd for a in (train, *others)]


def fit_kernel(X, Y, E, Xt, data, train, seed):
    channel = ChannelProfiles.from_grids(X[:, 0], data.z[train])
    s = KernelSurrogate(structure=channel).fit(X, Y, error=E)
    mean, std = s.predict(Xt)
    raw = std / s.std_scale
    return mean, {"std": std, "std_raw": raw, "model": s}


def fit_ensemble(X, Y, E, Xt, data, train, seed):
    from hoomd_mlx.coupling.surrogate import Surrogate

    s = Surrogate(nonnegative=True, seed=seed).fit(X, Y, error=E)
    mean, std = s.predict(Xt)
    return mean, {"std_raw": std, "model": s}


def fit_rbf(X, Y, E, Xt, data, train, seed):
    from scipy.interpolate import RBFInterpolator

    a, b = _standardise(X, Xt)
    return np.maximum(RBFInterpolator(a, Y, kernel="cubic")(b), 0.0), {}


def fit_linear(X, Y, E, Xt, data, train, seed):
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    a, b = _standardise(X, Xt)
    pred = LinearNDInterpolator(a, Y)(b)
    outside = np.isnan(pred).any(axis=1)
    if outside.any():
        pred[outside] = NearestNDInterpolator(a, Y)(b[outside])
    return pred, {"outside_hull": int(outside.sum())}


def fit_gp(X, Y, E, Xt, data, train, seed):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    a, b = _standardise(X, Xt)
    mu, sd = Y.mean(0), Y.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(X.shape[1]), nu=2.5) + WhiteKernel(1e-3)
    gp = GaussianProcessRegressor(kernel, random_state=seed).fit(a, (Y - mu) / sd)
    mean, std = gp.predict(b, return_std=True)
    std = std.reshape(len(b), -1) if std.ndim > 1 else std[:, None] * np.ones(Y.shape[1])
    return np.maximum(mean * sd + mu, 0.0), {"std_raw": std * sd, "kernel": str(gp.kernel_)}


def fit_mlp(X, Y, E, Xt, data, train, seed):
    from sklearn.neural_network import MLPRegressor

    a, b = _standardise(X, Xt)
    mu, sd = Y.mean(0), Y.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    mlp = MLPRegressor(
        hidden_layer_sizes=(512, 256),
        activation="relu",
        alpha=1e-4,  # L2 in place of the published dropout (scikit-learn has none)
        batch_size=16,
        learning_rate_init=1e-3,
        max_iter=300,
        tol=1e-7,
        n_iter_no_change=50,
        random_state=seed,
    )
    mlp.fit(a, (Y - mu) / sd)
    return np.maximum(mlp.predict(b) * sd + mu, 0.0), {}


FITS = {
    "kernel": fit_kernel,
    "ensemble": fit_ensemble,
    "rbf_cubic": fit_rbf,
    "linear": fit_linear,
    "gp": fit_gp,
    "mlp": fit_mlp,
}


def _counts_error(pred, truth, X, bin_width, channel):
    """Mean relative error of the integrated ion counts: against the state point's, and the reference's."""
    ours = integrated_counts(pred, bin_width)
    state = channel.counts(X)
    reference = integrated_counts(truth, bin_width)
    return (
        float(np.mean(np.abs(ours - state) / state)),
        float(np.mean(np.abs(ours - reference) / reference)),
    )


def _symmetry_error(pred, bins):
    p = pred.reshape(len(pred), 2, bins)
    return float(np.abs(p - p[:, :, ::-1]).max())


def _timing(data, methods_models):
    """Time per predicted profile (one state point per call) against MD job times of the same points."""
    path = ROOT / "benchmarks" / "results" / "electrolyte_reference.json"
    records = json.loads(path.read_text())["records"]
    md = [r for r in records if abs(r["state"]["d"] - 0.415) < 1e-9]
    out = {"md_source": str(path.relative_to(ROOT)), "points": []}
    for r in md:
        x = np.array([[r["state"]["Z"], r["state"]["c"], r["state"]["i"]]])
        point = {
            "state": r["state"],
            "md_job_seconds": r["seconds"],
            "md_job_steps": 22000,
            "md_seconds_for_published_error_bars": r["steps_to_match_error"] / r["steps_per_second"],
        }
        for name, model in methods_models.items():
            model.predict(x)  # warm up (compiles the Keras graph)
            repeats = 50
            start = time.perf_counter()
            for _ in range(repeats):
                model.predict(x)
            seconds = (time.perf_counter() - start) / repeats
            point[f"{name}_predict_seconds"] = seconds
            point[f"{name}_speedup_vs_job"] = r["seconds"] / seconds
            point[f"{name}_speedup_vs_published_error_bars"] = (
                point["md_seconds_for_published_error_bars"] / seconds
            )
        out["points"].append(point)
    return out


def _summary(values):
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "worst": float(v.min()),
    }


def _plot(path: Path, results: dict, methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    for k, name in enumerate(methods):
        acc = np.array(results["per_split"][name]["accuracy"])
        ax.scatter(
            np.full(len(acc), k) + np.linspace(-0.15, 0.15, len(acc)), acc, s=10, color="0.6", zorder=1
        )
        ax.errorbar(k, acc.mean(), yerr=acc.std(ddof=1), fmt="o", color="C3", capsize=5, zorder=2)
        ax.plot(k, acc.min(), "v", color="C0", zorder=2)
    ax.set_xticks(range(len(methods)), [LABELS[m].replace(" (", "\n(") for m in methods], fontsize=7)
    ax.set_ylabel("within-error-bar accuracy")
    ax.set_title(
        f"{results['splits']} random 90/30 splits of the 120 published profiles: "
        "splits (grey), mean +- std (red), worst (blue)",
        fontsize=8,
    )
    ax.set_ylim(min(min(results["per_split"][m]["accuracy"]) for m in methods) - 0.01, 1.0)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "surrogate_splits.json"))
    parser.add_argument("--plot", default=str(ROOT / "docs" / "surrogate_splits.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    methods = args.methods.split(",")
    data = load_nanoconfinement_profiles()
    bins = data.Y.shape[1] // 2
    bin_width = (data.z[:, -1] - data.z[:, 0]) / (data.z.shape[1] - 1)
    channel = ChannelProfiles.from_grids(data.X[:, 0], data.z)  # only to count ions (formula + grid)
    per_split = {
        m: {"accuracy": [], "count_error_vs_state": [], "count_error_vs_reference": []} for m in methods
    }
    ceiling, models = [], {}
    for split in range(args.splits):
        order = np.random.default_rng(split).permutation(len(data.X))
        train, test = order[:90], order[90:]
        X, Y, E = data.X[train], data.Y[train], data.error[train]
        Xt, Yt, Et = data.X[test], data.Y[test], data.error[test]
        ceiling.append(within_error_bar_accuracy(channel.profiles(channel.shapes(Yt, Xt), Xt), Yt, Et))
        for m in methods:
            start = time.perf_counter()
            pred, extra = FITS[m](X, Y, E, Xt, data, train, split)
            rec = per_split[m]
            rec["accuracy"].append(within_error_bar_accuracy(pred, Yt, Et))
            state, reference = _counts_error(pred, Yt, Xt, bin_width[test], channel)
            rec["count_error_vs_state"].append(state)
            rec["count_error_vs_reference"].append(reference)
            rec.setdefault("symmetry_error_max_M", []).append(_symmetry_error(pred, bins))
            rec.setdefault("fit_seconds", []).append(time.perf_counter() - start)
            for key, label in (("std_raw", "raw"), ("std", "calibrated")):
                if key in extra:
                    for k in (1, 2):
                        rec.setdefault(f"coverage_{k}sigma_{label}", []).append(
                            coverage(pred, extra[key], Yt, float(k))
                        )
            if m == "kernel":
                s = extra["model"]
                rec.setdefault("chosen", []).append({"kernel": s.kernel, "weights": s.weights.tolist()})
                rec.setdefault("std_scale", []).append(s.std_scale)
            if "model" in extra:
                models[m] = extra["model"]
            print(
                f"split {split} {m:10s} {rec['accuracy'][-1]:.4f} ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    results = {
        "data": "shared/data/nanoconfinement/profiles.npz (120 profiles, inputs Z, c, i)",
        "splits": args.splits,
        "split": "numpy default_rng(seed).permutation(120): first 90 train, last 30 test; seeds 0..splits-1",
        "metric": "within_error_bar_accuracy (|pred - truth| <= published error bar, mean over bins)",
        "methods": {m: LABELS[m] for m in methods},
        "per_split": per_split,
        "summary": {},
        "symmetrised_truth_accuracy": _summary(ceiling),
        "noise_ceiling_at_one_error_bar": perfect_accuracy(data.error, data.error),
    }
    for m in methods:
        results["summary"][m] = {k: _summary(v) for k, v in per_split[m].items() if k != "chosen"}
    if "kernel" in methods:
        ours = np.array(per_split["kernel"]["accuracy"])
        for m in methods:
            if m != "kernel":
                other = np.array(per_split[m]["accuracy"])
                results["summary"][m]["splits_kernel_wins"] = int(np.sum(ours > other))
    results["timing"] = _timing(data, models)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    _plot(Path(args.plot), results, methods)
    for m in methods:
        s = results["summary"][m]
        print(
            f"{LABELS[m]:36s} {s['accuracy']['mean']:.4f} +- {s['accuracy']['std']:.4f} "
            f"worst {s['accuracy']['worst']:.4f} wins {s.get('splits_kernel_wins', '-')}"
        )


if __name__ == "__main__":
    main()
