"""A surrogate that learns while the campaign runs, chooses the next jobs and can end it.

Its settings are the spec's ``[surrogate]`` table (`hoomd_mlx.campaign.config.surrogate`).

With ``model = "kernel"`` the surrogate is `KernelSurrogate`: it chooses its kernel and
input weights by cross-validation inside the training set, scored with the campaign's own
metric (the error bars times ``error_scale``), and calibrates its jackknife spread there
too, so the held-out validation jobs stay untouched. When the campaign belongs to a
workload that gives its outputs a structure (`hoomd_mlx.campaign.workloads`; the confined
electrolyte's profiles), it predicts them through it.

Between retrains the surrogate is updated from its current weights; while the data set is
still doubling it is refitted, so its built-in scaling follows the data. Each retrain is
saved as ``surrogates/v<N>/`` and recorded in the ledger with its validation accuracy
(validation: the finished jobs whose id hash falls in the last
quarter, the same jobs at every retrain). When two successive retrains reach
``target``, the driver stops submitting simulations and every remaining design point
is answered by the surrogate, marked ``predicted`` with its uncertainty.

Every simulation's result scatters by its own error bar, so an exact surrogate
lies within one standard error of it in only about 68% of cases (95% within
two). Each retrain records that ceiling (``ceiling``) next to the accuracy, and
the learner warns when ``target`` lies above it: raise ``error_scale`` (2 is the
usual choice for noisy outputs such as density profiles) or lower ``target``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hoomd_mlx.campaign.config.surrogate import SurrogateSettings, error_bars
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.space import POINTS, DesignRange, completion, known
from hoomd_mlx.campaign.workloads import workload_for
from hoomd_mlx.coupling.active import STRATEGIES
from hoomd_mlx.coupling.completion import point_error
from hoomd_mlx.errors import ConfigurationError

__all__ = [
    "CampaignLearner",
    "error_bars",
    "flatten_outputs",
    "is_validation",
    "latest_surrogate",
    "load_model",
    "output_widths",
    "predict_point",
    "split_outputs",
]

logger = logging.getLogger(__name__)

MIN_VALIDATION = 3  # finished validation jobs needed before the surrogate may end the simulations


def output_widths(result: Mapping[str, Any], outputs: Sequence[str]) -> list[int]:
    """Length of each output in a job result: 1 for a number, the length of a list (a profile)."""
    return [int(np.size(result[o])) for o in outputs]


def flatten_outputs(
    result: Mapping[str, Any], outputs: Sequence[str], errors: Mapping[str, str] | None = None
) -> np.ndarray:
    """The outputs of a result as one vector (lists, such as profiles, laid end to end).

    With ``errors``, the error bars of those outputs instead (zeros where none is named).
    """
    parts = []
    for o in outputs:
        value = np.atleast_1d(np.asarray(result[o], dtype=np.float64))
        if errors is not None:
            key = errors.get(o)
            value = np.atleast_1d(np.asarray(result[key], dtype=np.float64)) if key else np.zeros_like(value)
        parts.append(value.ravel())
    return np.concatenate(parts)


def split_outputs(vector: np.ndarray, outputs: Sequence[str], widths: Sequence[int]) -> dict[str, Any]:
    """Undo `flatten_outputs`: a float per scalar output, a list per vector output."""
    out, start = {}, 0
    for name, width in zip(outputs, widths, strict=True):
        part = np.asarray(vector[start : start + width], dtype=np.float64)
        out[name] = float(part[0]) if width == 1 else part.tolist()
        start += width
    return out


def is_validation(job_id: str) -> bool:
    """Whether a job belongs to the surrogate's fixed validation set (its id hash in the last quarter)."""
    return int(job_id, 16) % 4 == 3


class CampaignLearner:
    """Driver-side surrogate: retrains on finished jobs, orders pending ones, predicts the rest.

    Args:
        settings: The ``[surrogate]`` settings.
        parameters: Design parameter names (the surrogate's inputs, in this order).
        directory: Campaign directory (model versions go to ``surrogates/``).
        ledger: The campaign ledger.
    """

    def __init__(
        self, settings: SurrogateSettings, parameters: Sequence[str], directory: Path, ledger: Ledger
    ):
        self.settings = settings
        self.parameters = list(parameters)
        self.directory = Path(directory)
        self.ledger = ledger
        self.surrogate = None
        self._trained_ids: set[str] = set()
        self._rng = np.random.default_rng(0)
        versions = ledger.surrogate_versions()
        self.version = versions[-1]["version"] if versions else 0
        self._streak = 0
        self._validation_done = 0
        self._validation_checked_at = -1
        self._done_seen = 0
        self._fit_size = 0
        self._warned = False
        self.widths: list[int] | None = ledger.meta("surrogate_output_widths")
        design = ledger.meta("design")
        self.space = DesignRange(design, self.parameters) if design else None
        self.completion: float | None = versions[-1].get("completion") if versions else None
        for entry in versions[-2:]:
            reached = entry["accuracy"] >= settings.target and entry["validation"] >= MIN_VALIDATION
            self._streak = self._streak + 1 if reached else 0

    @property
    def needs_validation(self) -> bool:
        """bool: Fewer than the minimum validation jobs are finished (they are scheduled first)."""
        if self._validation_done >= MIN_VALIDATION:
            return False
        n_done = self.ledger.count("done")
        if n_done != self._validation_checked_at:
            self._validation_checked_at = n_done
            self._validation_done = sum(is_validation(j.id) for j in self.ledger.jobs("done"))
        return self._validation_done < MIN_VALIDATION

    @property
    def switched(self) -> bool:
        """bool: Two retrains in a row reached the target (and the completion, if set): stop simulating."""
        wanted = self.settings.completion
        return self._streak >= 2 and (wanted is None or (self.completion or 0.0) >= wanted)

    def _arrays(self, jobs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, outputs, floored error bars and the results' own error bars (their noise)."""
        s = self.settings
        X = np.array([[float(j.params[p]) for p in self.parameters] for j in jobs])
        Y = np.array([flatten_outputs(j.result, s.outputs) for j in jobs])
        noise = np.array([flatten_outputs(j.result, s.outputs, s.errors) for j in jobs])
        if self.widths is None:
            self.widths = output_widths(jobs[0].result, s.outputs)
            self.ledger.set_meta("surrogate_output_widths", self.widths)
        return X, Y, error_bars(s, Y, noise), noise

    def structure(self):
        """The output structure of the campaign's workload (`hoomd_mlx.campaign.workloads`), or None."""
        workload = workload_for(self.settings.outputs, self.parameters)
        if workload.output_structure is None or self.widths is None:
            return None
        return workload.output_structure(self.settings.outputs, self.parameters, self.widths)

    def _min_train(self) -> int:
        """Training jobs needed before the first fit (the kernel model's folds need a few more)."""
        dims = len(self.parameters)
        if self.settings.model == "kernel":
            return max(2 * dims + 2, self.settings.members + dims + 2)
        return 2 * dims + 2

    def observe(self) -> dict | None:
        """Retrain if ``retrain_every`` new results arrived; return the new version's record."""
        from hoomd_mlx.coupling.metrics import coverage, perfect_accuracy, within_error_bar_accuracy

        s = self.settings
        n_done = self.ledger.count("done")  # cheap: read the finished jobs only when worth it
        if n_done - self._done_seen < s.retrain_every and self.surrogate is not None:
            return None
        if n_done < 2 * len(self.parameters) + 3:
            return None
        done = [j for j in self.ledger.jobs("done") if all(o in (j.result or {}) for o in s.outputs)]
        train = [j for j in done if not is_validation(j.id)]
        validation = [j for j in done if is_validation(j.id)]
        new = [j for j in train if j.id not in self._trained_ids]
        if len(train) < self._min_train() or not validation:
            return None
        self._done_seen = n_done
        start = time.monotonic()
        if s.model == "kernel":
            # a fresh fit on every retrain (seconds): kernel and input weights chosen by
            # cross-validation with the campaign's metric, the spread calibrated in the training set
            from hoomd_mlx.coupling.kernel import KernelSurrogate

            X, Y, E = self._arrays(train)[:3]
            self.surrogate = KernelSurrogate(
                structure=self.structure(), nonnegative=False, folds=s.members, seed=self.version
            ).fit(X, Y, s.error_scale * E)
            self._fit_size = len(train)
        elif self.surrogate is None or len(train) >= 2 * self._fit_size:
            from hoomd_mlx.coupling.surrogate import Surrogate

            # a fresh fit while the data set doubles (its input/output scaling follows the data);
            # warm-start updates in between
            self.surrogate = Surrogate(
                members=s.members,
                epochs=s.epochs,
                update_epochs=s.update_epochs,
                stop_at_error_bars=s.stop_at_error_bars,
                seed=self.version,
            ).fit(*self._arrays(train)[:3])
            self._fit_size = len(train)
        else:
            self.surrogate.update(*self._arrays(new)[:3])
        self._trained_ids.update(j.id for j in train)
        Xv, Yv, Ev, noise = self._arrays(validation)
        Ev = s.error_scale * Ev
        mean_v = self.surrogate.predict(Xv)[0]
        accuracy = within_error_bar_accuracy(mean_v, Yv, Ev)
        if s.model == "kernel":
            # calibrated inside its training set (nested cross-validation): the validation jobs
            # only judge it
            calibration = {
                "std_scale": self.surrogate.std_scale,
                "coverage_2_sigma_raw": self.surrogate.cv_coverage["2_sigma_raw"],
            }
        else:
            # the ensemble's spread, scaled so that +-2 std covers ~95% of the held-out jobs: the stds
            # stored with predicted points and the disagreement strategy use the calibrated value
            calibration = self.surrogate.calibrate(Xv, Yv, tolerance=Ev if np.all(Ev > 0) else None)
        coverage_validation = coverage(mean_v, self.surrogate.predict(Xv)[1], Yv, 2.0)
        ceiling = perfect_accuracy(Ev, noise)
        if ceiling < s.target and not self._warned:
            self._warned = True
            logger.warning(
                "surrogate.target = %.2f is above what an exact surrogate reaches against these jobs "
                "(%.2f): their results scatter by their error bars. Raise surrogate.error_scale (2 gives "
                "about 0.95) or the tolerances, or lower the target.",
                s.target,
                ceiling,
            )
        space = self._completion(train, Xv, Yv, Ev)
        self.version += 1
        path = self.surrogate.save(self.directory / "surrogates" / f"v{self.version}")
        # a switch needs a validation set worth the name
        reached = accuracy >= s.target and len(validation) >= MIN_VALIDATION
        self._streak = self._streak + 1 if reached else 0
        record = {
            "version": self.version,
            "samples": len(train),
            "validation": len(validation),
            "accuracy": accuracy,
            "ceiling": ceiling,
            "error_scale": s.error_scale,
            "std_scale": calibration["std_scale"],
            "coverage_2_sigma_raw": calibration["coverage_2_sigma_raw"],
            "coverage_2_sigma_validation": coverage_validation,
            "model": s.model,
            **space,
            "path": str(path.relative_to(self.directory)),
            "seconds": time.monotonic() - start,
        }
        self.ledger.add_surrogate_version(record)
        logger.info(
            "surrogate v%d: %d samples, validation accuracy %.3f (exact surrogate: %.3f)",
            self.version,
            len(train),
            accuracy,
            ceiling,
        )
        return record

    def _completion(self, train, Xv: np.ndarray, Yv: np.ndarray, Ev: np.ndarray) -> dict:
        """The design space's completion, and how the validation jobs declared known fared."""
        calibration = getattr(self.surrogate, "point_calibration", None)
        if calibration is None or self.space is None:
            self.completion = None
            return {}
        X, _, _, noise = self._arrays(train)
        share = completion(self.surrogate, self.settings, self.space, X, noise)
        self.completion = share.share if share is not None else None
        record = {"point_scale": calibration.scale}
        if share is not None:
            record.update(completion=share.share, completion_error=share.error, completion_points=POINTS)
            declared = known(self.surrogate, self.settings, Xv, X, noise)
            meets = point_error(self.surrogate.predict(Xv)[0], Yv, Ev) <= 1.0
            record.update(
                validation_known=int(declared.sum()), validation_known_met=int((declared & meets).sum())
            )
            logger.info("design space known: %.3f +- %.3f", share.share, share.error)
        return record

    def order(self, pending: Sequence[str], params: Mapping[str, Mapping[str, Any]], count: int) -> list[str]:
        """Pending job ids with the strategy's ``count`` picks first."""
        if self.needs_validation:  # fill the held-out set first
            validation = [j for j in pending if is_validation(j)]
            return validation + [j for j in pending if not is_validation(j)]
        if self.surrogate is None or not pending:
            return list(pending)
        candidates = np.array([[float(params[j][p]) for p in self.parameters] for j in pending])
        picks = STRATEGIES[self.settings.strategy](self.surrogate, candidates, count, self._rng)
        first = [pending[k] for k in picks]
        chosen = set(first)
        return first + [j for j in pending if j not in chosen]

    def predict_remaining(self) -> int:
        """Answer every pending design point with the surrogate; return how many."""
        pending = self.ledger.jobs("pending")
        if not pending or self.surrogate is None:
            return 0
        X = np.array([[float(j.params[p]) for p in self.parameters] for j in pending])
        start = time.monotonic()
        mean, std = self.surrogate.predict(X)
        seconds = time.monotonic() - start  # priced as the surrogate's answers (campaign status, report)
        self.ledger.set_meta("prediction_seconds", (self.ledger.meta("prediction_seconds") or 0.0) + seconds)
        with self.ledger.transaction():
            outputs = self.settings.outputs
            for job, m, sd in zip(pending, mean, std, strict=True):
                result = split_outputs(m, outputs, self.widths)
                result.update({f"{o}_std": v for o, v in split_outputs(sd, outputs, self.widths).items()})
                result["surrogate_version"] = self.version
                self.ledger.mark_predicted(job.id, result)
        return len(pending)


def load_model(path: str | Path):
    """A campaign's saved model version: a `KernelSurrogate` or a Keras `Surrogate`, by its files."""
    path = Path(path)
    if (path / "kernel_surrogate.json").exists():
        from hoomd_mlx.coupling.kernel import KernelSurrogate

        return KernelSurrogate.load(path)
    from hoomd_mlx.coupling.surrogate import Surrogate

    return Surrogate.load(path)


def latest_surrogate(directory: str | Path):
    """The newest model of a campaign: (model, version record, parameters, outputs, output widths).

    The model is a Keras `Surrogate` or a `KernelSurrogate` (``[surrogate] model``); both
    answer ``predict(X) -> (mean, std)``.
    """
    directory = Path(directory)
    with Ledger.in_directory(directory) as ledger:
        versions = ledger.surrogate_versions()
        parameters = ledger.meta("parameters")
        outputs = ledger.meta("surrogate_outputs")
        widths = ledger.meta("surrogate_output_widths") or [1] * len(outputs or [])
    if not versions:
        raise ConfigurationError(
            f"campaign {directory} has no surrogate yet (its spec needs a [surrogate] table)"
        )
    record = versions[-1]
    return load_model(directory / record["path"]), record, parameters, outputs, widths


def predict_point(directory: str | Path, params: Mapping[str, float]) -> dict:
    """Mean and std of the newest surrogate at one design point, with timing against simulation."""
    surrogate, record, parameters, outputs, widths = latest_surrogate(directory)
    missing = [p for p in parameters if p not in params]
    if missing:
        raise ConfigurationError(f"--params is missing {missing}; the design parameters are {parameters}")
    x = np.array([[float(params[p]) for p in parameters]])
    surrogate.predict(x)  # warm up
    start = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        mean, std = surrogate.predict(x)
    inference = (time.perf_counter() - start) / repeats
    with Ledger.in_directory(directory) as ledger:
        runtimes = [j.runtime for j in ledger.jobs("done") if j.runtime]
    simulation = float(np.mean(runtimes)) if runtimes else float("nan")
    return {
        "params": dict(params),
        "mean": split_outputs(mean[0], outputs, widths),
        "std": split_outputs(std[0], outputs, widths),
        "surrogate_version": record["version"],
        "validation_accuracy": record["accuracy"],
        "inference_seconds": inference,
        "mean_simulation_seconds": simulation,
        "speedup": simulation / inference if runtimes else None,
    }
