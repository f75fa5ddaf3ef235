"""The completion of a campaign's design space: how much of it its surrogate knows.

The design space is the spec's parameters (ranges, or sets of values), recorded in the
ledger when the campaign registers its points (`design_record`), so status, report and
``campaign check`` rebuild it without the spec. A point of the space is known when the
surrogate's calibrated two-sigma band lies within the tolerance there
(`hoomd_mlx.coupling.completion`). The tolerance at a point nobody simulated is the
campaign's error bar rule (`hoomd_mlx.campaign.config.surrogate.error_bars`, times
``error_scale``) with the results' own error bars taken from the nearest simulated point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hoomd_mlx.campaign.config.design import DesignSpace, Parameter
from hoomd_mlx.campaign.config.surrogate import SurrogateSettings, error_bars
from hoomd_mlx.coupling.completion import Completion, design_completion, nearest_rows, unit_samples

__all__ = ["DesignRange", "design_record"]

POINTS = 256
"""int: Samples per replica of the completion estimate."""
REPLICAS = 8
"""int: Scrambled Sobol replicas (the estimate's standard error comes from their spread)."""


def design_record(design: DesignSpace) -> list[dict]:
    """JSON-able parameters of a design space (a ``list`` design: the box its points span)."""
    if design.sampler == "list":
        names = sorted({k for p in design.points for k in p})
        record = []
        for name in names:
            values = [p[name] for p in design.points if name in p]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                record.append({"name": name, "low": float(min(values)), "high": float(max(values))})
            else:
                record.append({"name": name, "values": sorted(set(values), key=str)})
        return record
    return [
        {"name": p.name, "low": p.low, "high": p.high, "values": list(p.values), "integer": p.integer}
        if not p.is_range
        else {"name": p.name, "low": p.low, "high": p.high, "integer": p.integer}
        for p in design.parameters
    ]


class DesignRange:
    """A recorded design space, as the surrogate's inputs (``parameters`` order).

    Args:
        record: `design_record`'s output (the ledger's ``design`` meta).
        parameters: The surrogate's input names, in its order.
    """

    def __init__(self, record: Sequence[Mapping[str, Any]], parameters: Sequence[str]) -> None:
        by_name = {r["name"]: r for r in record}
        missing = [p for p in parameters if p not in by_name]
        if missing:
            raise ValueError(f"the recorded design space lacks the surrogate's inputs {missing}")
        self.parameters = [
            Parameter(
                name,
                low=by_name[name].get("low"),
                high=by_name[name].get("high"),
                values=tuple(by_name[name].get("values") or ()),
                integer=bool(by_name[name].get("integer", False)),
            )
            for name in parameters
        ]
        self.samples = unit_samples(len(self.parameters), POINTS, REPLICAS, seed=0)

    def inputs(self, unit: np.ndarray) -> np.ndarray:
        """(S, d) surrogate inputs of unit-cube points."""
        return np.column_stack(
            [np.asarray(p.from_unit(unit[:, k]), dtype=np.float64) for k, p in enumerate(self.parameters)]
        )

    def grid(self, first: int, second: int, size: int = 41) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A ``size`` x ``size`` map over two inputs, the others at their middle: (u, v, inputs)."""
        u = np.linspace(0.0, 1.0 - 1e-9, size)
        uu, vv = np.meshgrid(u, u, indexing="ij")
        unit = np.full((uu.size, len(self.parameters)), 0.5)
        unit[:, first], unit[:, second] = uu.ravel(), vv.ravel()
        x = self.inputs(unit)
        return x[:, first].reshape(uu.shape), x[:, second].reshape(uu.shape), x


def tolerance_at(
    settings: SurrogateSettings, X: np.ndarray, mean: np.ndarray, X_train: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """(S, D) the tolerance at ``X``: the error bar rule with the nearest simulation's own error bars."""
    return settings.error_scale * error_bars(settings, mean, noise[nearest_rows(X_train, X)])


def known(model, settings: SurrogateSettings, X: np.ndarray, X_train: np.ndarray, noise: np.ndarray):
    """(S,) bool: the model's calibrated band within the tolerance at ``X`` (its point calibration)."""
    mean, std = model.predict(X)
    return model.point_calibration.known(std, tolerance_at(settings, X, mean, X_train, noise))


def completion(
    model, settings: SurrogateSettings, space: DesignRange, X_train: np.ndarray, noise: np.ndarray
) -> Completion | None:
    """The known share of ``space``; None without a point calibration or where a tolerance is 0."""
    if getattr(model, "point_calibration", None) is None:
        return None
    try:
        return design_completion(
            lambda u: known(model, settings, space.inputs(u), X_train, noise), space.samples
        )
    except ValueError:  # a tolerance of 0 somewhere: no band is within it
        return None
