r"""Lifetimes of preemptible VMs: fitted CDFs made into proper distributions.

Three families, all fitted by least squares on the empirical CDF (``scipy.optimize.curve_fit``
with bounds), so their goodness of fit compares like with like:

* ``"scispot"`` -- SciSpot's bathtub model (Kadupitiya, Jadhao, Sharma, HPDC 2020)
  :math:`F(t) = A\,(1 - e^{-t/\tau_1} + e^{(t-b)/\tau_2})`: early deaths with time scale
  :math:`\tau_1`, a quiet middle, and the deaths at the 24 h limit around :math:`b`;
* ``"exponential"`` -- :math:`F(t) = 1 - e^{-t/s}` (a constant hazard; Young-Daly's assumption);
* ``"weibull"`` -- :math:`F(t) = 1 - e^{-(t/s)^k}` (started from its maximum-likelihood fit).

**Normalisation.** None of these curves is a distribution on its own: SciSpot's grows past 1
(fitted to the 2019 data it passes 1 at 24.72 h; at 24 h it is only 0.64), the others never
reach 1. A `PreemptionModel` therefore has a *cap* [h], the age by which every VM is gone,
and its lifetime distribution is

* :math:`F(t)` for :math:`0 \le t < t_{end}`, with :math:`t_{end} = \min(cap, t_1)` and
  :math:`t_1` the first age where :math:`F` reaches 1;
* an atom of mass :math:`1 - F(t_{end})` at :math:`t_{end}` (VMs still alive at the cap die
  there).

`fit_lifetimes` sets the cap to the longest lifetime observed (24.83 h in the SciSpot data,
whose clock runs a little past Google's documented 24 h), so the fitted SciSpot curve ends by
itself at :math:`t_1` = 24.72 h with no atom left, and the baselines get an atom at 24.83 h.
``model.with_cap(24.0)`` gives the conservative variant that trusts no VM past the documented
24 h (an atom of 0.36 there). :math:`F(0) = A e^{-b/\tau_2}` (about 1e-14) is a negligible
atom at age 0.

Times are hours throughout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hoomd_mlx.cloud.vm import VmEvent
from hoomd_mlx.errors import ConfigurationError, ModelFitError

__all__ = [
    "FAMILIES",
    "SCISPOT_PUBLISHED",
    "PreemptionModel",
    "VmEvent",
    "fit_lifetimes",
    "goodness_of_fit",
    "kaplan_meier",
    "load_model",
    "refit_from_events",
    "scispot_model",
]

logger = logging.getLogger(__name__)

SCISPOT_PUBLISHED = {"A": 0.41, "tau1": 0.95, "tau2": 0.77, "b": 24.5}
"""dict: The SciSpot parameters as published (used when the data file is absent)."""

SCISPOT_LONGEST = 24.83
"""float: Longest lifetime in the SciSpot data [h] (the cap of the published-parameter model)."""


VM_DEATH_EVENTS = (VmEvent.PREEMPTED, VmEvent.LOST)
"""tuple[VmEvent, ...]: Ledger event kinds recording a VM's death at an observed age."""

VM_CENSORED_EVENT = VmEvent.CENSORED
"""VmEvent: Ledger event kind recording a VM still alive at an age (a right-censored lifetime)."""


def _exp(z: np.ndarray) -> np.ndarray:
    return np.exp(np.minimum(z, 700.0))


def _scispot_cdf(t, A, tau1, tau2, b):
    return A * (1.0 - np.exp(-t / tau1) + _exp((t - b) / tau2))


def _scispot_pdf(t, A, tau1, tau2, b):
    return A * (np.exp(-t / tau1) / tau1 + _exp((t - b) / tau2) / tau2)


def _scispot_integral(t, A, tau1, tau2, b):
    return A * (t - tau1 * (1.0 - np.exp(-t / tau1)) + tau2 * (_exp((t - b) / tau2) - np.exp(-b / tau2)))


def _exponential_cdf(t, scale):
    return 1.0 - np.exp(-t / scale)


def _exponential_pdf(t, scale):
    return np.exp(-t / scale) / scale


def _exponential_integral(t, scale):
    return t - scale * (1.0 - np.exp(-t / scale))


def _weibull_cdf(t, shape, scale):
    return 1.0 - np.exp(-((np.maximum(t, 0.0) / scale) ** shape))


def _weibull_pdf(t, shape, scale):
    z = np.maximum(t, 1e-300) / scale
    return shape / scale * z ** (shape - 1.0) * np.exp(-(z**shape))


def _weibull_integral(t, shape, scale):
    from scipy.special import gamma, gammainc

    survived = scale * gamma(1.0 + 1.0 / shape) * gammainc(1.0 / shape, (np.maximum(t, 0.0) / scale) ** shape)
    return t - survived


@dataclass(frozen=True)
class Family:
    """A parametric lifetime CDF: parameter names [h unless stated], CDF, density, its integral, bounds."""

    names: tuple[str, ...]
    cdf: Callable[..., np.ndarray]
    pdf: Callable[..., np.ndarray]
    integral: Callable[..., np.ndarray]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


FAMILIES: dict[str, Family] = {
    "scispot": Family(
        ("A", "tau1", "tau2", "b"),
        _scispot_cdf,
        _scispot_pdf,
        _scispot_integral,
        (0.0, 1e-3, 1e-3, 0.0),
        (1.0, 24.0, 24.0, 48.0),
    ),
    "exponential": Family(
        ("scale",), _exponential_cdf, _exponential_pdf, _exponential_integral, (1e-3,), (1e4,)
    ),
    "weibull": Family(
        ("shape", "scale"), _weibull_cdf, _weibull_pdf, _weibull_integral, (0.05, 1e-3), (20.0, 1e4)
    ),
}
"""dict[str, Family]: The lifetime families by name (SciSpot's bathtub and two baselines)."""

_GRID = 2**15  # intervals of the [0, t_end] grid behind the inverse CDF


class PreemptionModel:
    """A VM lifetime distribution: a fitted CDF, capped and normalised (see the module docs).

    Args:
        family: ``"scispot"``, ``"exponential"`` or ``"weibull"``.
        params: The family's parameters by name (times in [h]).
        cap: Age [h] by which every VM is gone (the support ends at ``min(cap, t_1)``).
        goodness: Goodness of fit, when the model came from data (see `goodness_of_fit`).

    Example::

        model = scispot_model()
        model.survival(2.0)             # P(a fresh VM lives past 2 h)
        model.expected_remaining(5.0)   # expected further life of a VM aged 5 h [h]
        model.sample(np.random.default_rng(1), 10)
    """

    def __init__(
        self, family: str, params: Mapping[str, float], cap: float = 24.0, goodness: dict | None = None
    ) -> None:
        if family not in FAMILIES:
            raise ConfigurationError(f"lifetime family {family!r}; expected one of {sorted(FAMILIES)}")
        self.family = family
        spec = FAMILIES[family]
        missing = set(spec.names) - set(params)
        if missing:
            raise ConfigurationError(f"{family} lifetime model needs parameters {sorted(missing)}")
        self.params = {name: float(params[name]) for name in spec.names}
        if not cap > 0:
            raise ConfigurationError(f"cap = {cap}; the age by which VMs are gone must be > 0 [h]")
        self.cap = float(cap)
        self.goodness = goodness
        self._values = tuple(self.params[name] for name in spec.names)
        self.end = self._end()
        grid = np.linspace(0.0, self.end, _GRID + 1)
        raw = np.clip(spec.cdf(grid, *self._values), 0.0, 1.0)
        self._grid = grid
        self._cdf_grid = np.maximum.accumulate(raw)
        self._total = float(self.integrated_survival(self.end))

    def _end(self) -> float:
        spec = FAMILIES[self.family]
        if spec.cdf(np.array(self.cap), *self._values) < 1.0:
            return self.cap
        # where the (increasing) CDF reaches 1: bisection to 1e-12 h, without importing
        # scipy.optimize (a third of a second: `campaign status` prices answers with this model)
        low, high = 0.0, self.cap
        while high - low > 1e-12:
            middle = 0.5 * (low + high)
            if spec.cdf(np.array(middle), *self._values) < 1.0:
                low = middle
            else:
                high = middle
        return float(0.5 * (low + high))

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"PreemptionModel({self.family}: {values}; end {self.end:.3f} h, atom {self.atom:.3f})"

    # -- the distribution --------------------------------------------------------------

    @property
    def atom(self) -> float:
        """float: Probability that a VM lives to the end of the support (and dies there)."""
        return float(1.0 - FAMILIES[self.family].cdf(np.array(self.end), *self._values).clip(0.0, 1.0))

    def raw_cdf(self, t: Any) -> np.ndarray:
        """np.ndarray: The fitted curve itself, not normalised (for plots and goodness of fit)."""
        return FAMILIES[self.family].cdf(np.asarray(t, dtype=float), *self._values)

    def cdf(self, t: Any) -> np.ndarray:
        """np.ndarray: P(lifetime <= t); reaches 1 at `end`, non-decreasing."""
        t = np.asarray(t, dtype=float)
        inside = np.clip(self.raw_cdf(np.clip(t, 0.0, self.end)), 0.0, 1.0)
        return np.where(t < 0, 0.0, np.where(t >= self.end, 1.0, inside))

    def survival(self, t: Any) -> np.ndarray:
        """np.ndarray: P(lifetime > t)."""
        return 1.0 - self.cdf(t)

    def pdf(self, t: Any) -> np.ndarray:
        """np.ndarray: Density of the continuous part [1/h] (the atom at `end` not included)."""
        t = np.asarray(t, dtype=float)
        inside = FAMILIES[self.family].pdf(np.clip(t, 0.0, self.end), *self._values)
        return np.where((t < 0) | (t >= self.end), 0.0, inside)

    def hazard(self, t: Any) -> np.ndarray:
        """np.ndarray: Preemption rate of a VM aged ``t`` [1/h] (infinite from `end` on)."""
        t = np.asarray(t, dtype=float)
        survival = self.survival(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(survival > 0, self.pdf(t) / np.where(survival > 0, survival, 1.0), np.inf)

    def integrated_survival(self, t: Any) -> np.ndarray:
        r"""np.ndarray: :math:`\int_0^t S(u)\,du` [h] (in closed form)."""
        t = np.clip(np.asarray(t, dtype=float), 0.0, self.end)
        return t - FAMILIES[self.family].integral(t, *self._values)

    @property
    def mean(self) -> float:
        """float: Mean lifetime of a fresh VM [h] (the MTTF of Young-Daly)."""
        return self._total

    def expected_remaining(self, age: Any) -> np.ndarray:
        """np.ndarray: Expected further life of a VM that has lived ``age`` hours [h]."""
        age = np.asarray(age, dtype=float)
        survival = self.survival(age)
        rest = self._total - self.integrated_survival(age)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(survival > 0, rest / np.where(survival > 0, survival, 1.0), 0.0)

    def ppf(self, u: Any) -> np.ndarray:
        """np.ndarray: Inverse CDF: the lifetime [h] at probability ``u`` (``u`` past the curve: `end`)."""
        u = np.asarray(u, dtype=float)
        inverse = np.interp(u, self._cdf_grid, self._grid)
        return np.where(u >= self._cdf_grid[-1], self.end, inverse)

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """np.ndarray: Lifetimes [h] drawn by inverse CDF (the atom included)."""
        return self.ppf(rng.random(size))

    # -- storage -----------------------------------------------------------------------

    def with_cap(self, cap: float) -> PreemptionModel:
        """PreemptionModel: The same curve with another cap (e.g. 24.0, Google's documented limit)."""
        return PreemptionModel(self.family, self.params, cap=cap, goodness=self.goodness)

    def to_dict(self) -> dict:
        """dict: JSON-able form (`from_dict` reads it back)."""
        return {"family": self.family, "params": self.params, "cap": self.cap, "goodness": self.goodness}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreemptionModel:
        """PreemptionModel: From `to_dict`'s output."""
        try:
            return cls(
                data["family"], data["params"], cap=data.get("cap", 24.0), goodness=data.get("goodness")
            )
        except KeyError as err:
            raise ConfigurationError(
                f"a lifetime model needs 'family' and 'params'; {err} is missing"
            ) from err

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON; return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


def kaplan_meier(times: Any, observed: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the lifetime CDF from possibly right-censored lifetimes.

    Args:
        times: Lifetimes or censoring ages [h].
        observed: True where the VM was seen to die, False where it was still alive (censored);
            all True when None.

    Returns:
        tuple[np.ndarray, np.ndarray]: Distinct death ages [h] and the CDF just after each.
    """
    times = np.asarray(times, dtype=float)
    observed = np.ones(times.shape, bool) if observed is None else np.asarray(observed, bool)
    order = np.lexsort((~observed, times))  # deaths before censorings at equal ages
    times, observed = times[order], observed[order]
    at_risk = len(times) - np.arange(len(times))
    factors = np.where(observed, 1.0 - 1.0 / at_risk, 1.0)
    survival = np.cumprod(factors)
    next_differs = np.append(times[1:] != times[:-1], True)
    next_censored = np.append(~observed[1:], True)
    keep = observed & (next_differs | next_censored)  # the last death row at each death age
    return times[keep], 1.0 - survival[keep]


def goodness_of_fit(model: PreemptionModel, lifetimes: Any, ecdf: Any | None = None) -> dict:
    """How well ``model`` follows data: RMSE, largest error and R^2 on the CDF points, KS statistic.

    Args:
        model: The (normalised) model.
        lifetimes: Observed lifetimes [h] (uncensored).
        ecdf: The empirical CDF at ``lifetimes`` (default: the Kaplan-Meier ``i/n``).

    Returns:
        dict: ``n``, ``rmse``, ``max_error``, ``r2`` (CDF points), ``ks`` (two-sided KS statistic of
        the sample against the model), ``rmse_raw`` (the fitted curve before normalisation).
    """
    from scipy import stats

    t = np.sort(np.asarray(lifetimes, dtype=float))
    n = len(t)
    target = np.arange(1, n + 1) / n if ecdf is None else np.asarray(ecdf, dtype=float)
    predicted = model.cdf(t)
    residual = predicted - target
    total = np.sum((target - target.mean()) ** 2)
    ks = stats.kstest(t, model.cdf).statistic
    return {
        "n": int(n),
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "max_error": float(np.max(np.abs(residual))),
        "r2": float(1.0 - np.sum(residual**2) / total),
        "ks": float(ks),
        "rmse_raw": float(np.sqrt(np.mean((model.raw_cdf(t) - target) ** 2))),
    }


def _start(family: str, t: np.ndarray, observed: np.ndarray) -> list[float]:
    deaths = t[observed]
    if family == "scispot":
        return [0.4, 1.0, 1.0, float(np.clip(t.max(), 1.0, 47.0))]
    if family == "exponential":
        return [float(t.sum() / max(observed.sum(), 1))]  # the MLE with censoring
    from scipy import stats

    if len(deaths) >= 2 and observed.all():
        shape, _, scale = stats.weibull_min.fit(deaths, floc=0.0)
        return [float(np.clip(shape, 0.06, 19.0)), float(scale)]
    return [1.0, float(t.mean())]


def fit_lifetimes(
    lifetimes: Any,
    family: str = "scispot",
    *,
    ecdf: Any | None = None,
    observed: Any | None = None,
    cap: float | None = None,
) -> PreemptionModel:
    """Fit a lifetime family to data by least squares on the CDF (``curve_fit`` with bounds).

    Args:
        lifetimes: Lifetimes [h] (censoring ages where ``observed`` is False).
        family: A name in `FAMILIES`.
        ecdf: The empirical CDF at ``lifetimes`` when the data come with one (SciSpot's file does);
            otherwise the Kaplan-Meier estimate is used.
        observed: False for right-censored lifetimes (VMs still alive); all observed when None.
        cap: The model's cap [h]; default the longest lifetime seen.

    Returns:
        PreemptionModel: The fitted, normalised model, with ``goodness`` filled in.

    Raises:
        ModelFitError: Too few deaths, or the fit did not converge.
    """
    from scipy.optimize import curve_fit

    if family not in FAMILIES:
        raise ConfigurationError(f"lifetime family {family!r}; expected one of {sorted(FAMILIES)}")
    t = np.asarray(lifetimes, dtype=float)
    seen = np.ones(t.shape, bool) if observed is None else np.asarray(observed, bool)
    spec = FAMILIES[family]
    if seen.sum() < len(spec.names) + 1:
        raise ModelFitError(
            f"{int(seen.sum())} observed VM deaths cannot fit the {len(spec.names)}-parameter "
            f"{family} model; collect more preemptions (or keep the prior model)"
        )
    if ecdf is not None and observed is None:
        x, y = t, np.asarray(ecdf, dtype=float)
    else:
        x, y = kaplan_meier(t, seen)
    p0 = np.clip(_start(family, t, seen), spec.lower, spec.upper)
    try:
        values, _ = curve_fit(spec.cdf, x, y, p0=p0, bounds=(spec.lower, spec.upper), maxfev=20_000)
    except (RuntimeError, ValueError) as err:
        raise ModelFitError(f"the {family} lifetime fit did not converge on {len(x)} points: {err}") from err
    model = PreemptionModel(
        family, dict(zip(spec.names, values, strict=True)), cap=float(cap if cap is not None else t.max())
    )
    if seen.all():
        # the raw sample (ties included), with the given empirical CDF if there is one
        model.goodness = goodness_of_fit(model, t, ecdf)
    else:
        residual = model.cdf(x) - y
        model.goodness = {
            "n": int(seen.sum()),
            "rmse": float(np.sqrt(np.mean(residual**2))),
            "censored": True,
        }
    return model


def scispot_model(family: str = "scispot", path: str | Path | None = None) -> PreemptionModel:
    """The lifetime model fitted to SciSpot's 717 VM lifetimes (``All_data.txt``).

    Without the data file, the ``"scispot"`` family falls back to the published parameters
    (`SCISPOT_PUBLISHED`, cap 24.83 h); the baselines need the data.

    Raises:
        FileNotFoundError: A baseline family was asked for and the data are not found.
    """
    from hoomd_mlx.cloud.data import load_scispot_lifetimes

    try:
        t, ecdf = load_scispot_lifetimes(path)
    except FileNotFoundError:
        if family != "scispot" or path is not None:
            raise
        logger.info("SciSpot lifetimes not found; using the published parameters %s", SCISPOT_PUBLISHED)
        return PreemptionModel("scispot", SCISPOT_PUBLISHED, cap=SCISPOT_LONGEST)
    return fit_lifetimes(t, family, ecdf=ecdf)


def load_model(name: str | Path) -> PreemptionModel:
    """A lifetime model by name: ``scispot`` | ``exponential`` | ``weibull`` (fitted to SciSpot's data),
    or the path of a JSON file written by `PreemptionModel.save`.

    Raises:
        ConfigurationError: Neither a known name nor a readable model file.
    """  # noqa: D205
    text = str(name)
    if text in FAMILIES:
        return scispot_model(text)
    path = Path(text)
    try:
        return PreemptionModel.from_dict(json.loads(path.read_text()))
    except FileNotFoundError as err:
        raise ConfigurationError(
            f"preemption model {text!r}: not one of {sorted(FAMILIES)} and no such file "
            "(write one with PreemptionModel.save or hoomd-mlx cloud fit)"
        ) from err
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigurationError(f"preemption model file {path} is not a model JSON: {err}") from err


def _detail(event: Mapping[str, Any]) -> dict:
    detail = event.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except json.JSONDecodeError:
            return {}
    return detail if isinstance(detail, dict) else {}


def refit_from_events(
    events: Iterable[Mapping[str, Any]], prior: PreemptionModel, *, min_deaths: int = 30
) -> PreemptionModel:
    """Refit ``prior``'s family to the VM lifetimes a campaign ledger recorded.

    ``events`` are rows of the ledger's event log (``Ledger.events()``): kinds in
    `VM_DEATH_EVENTS` give observed lifetimes, `VM_CENSORED_EVENT` right-censored ones (VMs
    still alive when the driver stopped); each detail carries ``age_hours``. Censored lifetimes
    enter through the Kaplan-Meier estimate. Ages are counted from when the worker process
    started, so a VM's boot time is not in them.

    Returns:
        PreemptionModel: The refitted model, or ``prior`` itself while fewer than ``min_deaths``
        deaths are recorded (a handful of preemptions cannot pin four parameters).
    """
    ages, seen = [], []
    for event in events:
        kind = event.get("kind")
        if kind not in (*VM_DEATH_EVENTS, VM_CENSORED_EVENT):
            continue
        age = _detail(event).get("age_hours")
        if age is None:
            continue
        ages.append(float(age))
        seen.append(kind != VM_CENSORED_EVENT)
    if sum(seen) < min_deaths:
        logger.info("%d VM deaths recorded (< %d): keeping the prior lifetime model", sum(seen), min_deaths)
        return prior
    try:
        return fit_lifetimes(ages, prior.family, observed=seen, cap=max(prior.cap, max(ages)))
    except ModelFitError as err:
        logger.warning("refit from the ledger failed (%s); keeping the prior lifetime model", err)
        return prior
