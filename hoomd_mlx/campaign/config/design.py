"""Design spaces: parameters with ranges or sets, sampled by grid, Latin hypercube, Sobol or a list.

A design point is a plain ``dict`` of parameter values; its identity is a hash of
the sorted items (`job_id`), so the same point always maps to the same job.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Converter, Flag, Int, Number, Optional, Settings, setting

__all__ = ["SAMPLERS", "DesignSpace", "Parameter", "ParameterSettings", "SamplingSettings", "job_id"]

SAMPLERS = ("grid", "lhs", "sobol", "list")


def _canonical(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def job_id(params: Mapping[str, Any]) -> str:
    """str: 16 hex digits of the SHA-256 of the sorted parameters (a job's identity)."""
    blob = json.dumps({k: _canonical(v) for k, v in params.items()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Parameter:
    """One design parameter: a continuous range ``[low, high]`` or a set of values.

    Attributes:
        name: Parameter name, as the job function receives it.
        low: Lower bound of a range (None for a set).
        high: Upper bound of a range (None for a set).
        values: The allowed values of a set (empty for a range).
        points: Grid points across a range for ``grid`` sampling.
        integer: Round sampled range values to integers.
    """

    name: str
    low: float | None = None
    high: float | None = None
    values: tuple = ()
    points: int = 0
    integer: bool = False

    @property
    def is_range(self) -> bool:
        """bool: Whether this parameter is a continuous range."""
        return not self.values

    def grid(self) -> list:
        """list: The grid values (the set itself, or ``points`` evenly spaced over the range)."""
        if not self.is_range:
            return list(self.values)
        return [self._cast(round(float(v), 12)) for v in np.linspace(self.low, self.high, self.points)]

    def from_unit(self, u: np.ndarray) -> list:
        """list: Map samples in [0, 1) onto the parameter (range: affine; set: by index)."""
        if self.is_range:
            return [self._cast(self.low + x * (self.high - self.low)) for x in u]
        index = np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)
        return [self.values[i] for i in index]

    def _cast(self, value: float) -> float | int:
        return round(value) if self.integer else float(value)


@dataclass(frozen=True)
class DesignSpace:
    """Parameters and how to sample them.

    Attributes:
        parameters: The parameters, in spec order.
        sampler: ``"grid"``, ``"lhs"``, ``"sobol"`` or ``"list"``.
        samples: Number of points for ``lhs`` and ``sobol``.
        seed: Seed of the random samplers.
        points: Explicit points for ``"list"``.
    """

    parameters: tuple[Parameter, ...]
    sampler: str = "grid"
    samples: int = 0
    seed: int = 0
    points: tuple[Mapping[str, Any], ...] = field(default=())

    def sample(self) -> list[dict[str, Any]]:
        """list[dict]: The design points, deterministic for a given spec."""
        names = [p.name for p in self.parameters]
        if self.sampler == "list":
            return [dict(p) for p in self.points]
        if self.sampler == "grid":
            return [
                dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(p.grid() for p in self.parameters))
            ]
        from scipy.stats import qmc  # scipy.stats takes ~1 s to import: only when sampling

        d = len(self.parameters)
        if self.sampler == "lhs":
            unit = qmc.LatinHypercube(d=d, seed=self.seed).random(self.samples)
        else:
            engine = qmc.Sobol(d=d, scramble=True, seed=self.seed)
            unit = engine.random_base2(math.ceil(math.log2(max(self.samples, 1))))[: self.samples]
        columns = [p.from_unit(unit[:, k]) for k, p in enumerate(self.parameters)]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "design") -> DesignSpace:
        """Build from the ``[design]`` table of a spec, naming the key at fault on error."""
        sampling = SamplingSettings.from_mapping(table, where)
        if sampling.sampler == "list":
            points = table.get("points")
            if (
                not points
                or not isinstance(points, Sequence)
                or not all(isinstance(p, Mapping) for p in points)
            ):
                raise ConfigurationError(
                    f"{where}.points = {points!r}; expected at least one point ([[{where}.points]] tables) "
                    "for sampler 'list'"
                )
            return cls(parameters=(), sampler="list", points=tuple(dict(p) for p in points))
        raw = table.get("parameters")
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where}.parameters = {raw!r}; expected a table ([{where}.parameters])")
        if not raw:
            raise ConfigurationError(f"{where}.parameters is empty; give at least one parameter")
        parameters = tuple(
            _parameter(name, spec, f"{where}.parameters.{name}", sampling.sampler)
            for name, spec in raw.items()
        )
        return cls(
            parameters=parameters, sampler=sampling.sampler, samples=sampling.samples, seed=sampling.seed
        )


class Bounds(Converter):
    """``[low, high]``: two numbers, high above low."""

    expects = "[low, high], two numbers with high > low"

    def convert(self, value: Any) -> tuple[float, float]:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
            raise TypeError(value)
        low, high = (Number().convert(x) for x in value)
        if not high > low:
            raise ValueError(value)
        return low, high

    def refused(self) -> list[Any]:
        return ["0-1", [0.0], [1.0, 0.0]]


class Values(Converter):
    """A non-empty list of numbers or strings."""

    expects = "a non-empty list of numbers or strings"

    def convert(self, value: Any) -> tuple:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(value)
        if not value:
            raise ValueError(value)
        if not all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in value):
            raise TypeError(value)
        return tuple(value)

    def refused(self) -> list[Any]:
        return [1.0, [], [{"a": 1}]]


@dataclass(frozen=True)
class SamplingSettings(Settings):
    """The ``[design]`` table's own keys (its ``parameters`` and ``points`` are read by `DesignSpace`)."""

    TABLE: ClassVar[str] = "design"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("parameters", "points")
    EXAMPLE: ClassVar[dict] = {"sampler": "lhs", "samples": 4, "parameters": {"x": {"range": [0.0, 1.0]}}}

    sampler: str = setting("grid", Choice(SAMPLERS))
    samples: int = setting(0, Int(minimum=0))
    seed: int = setting(0, Int())

    def check(self, where: str) -> None:
        """Random samplers need a number of samples."""
        if self.sampler in ("lhs", "sobol") and self.samples <= 0:
            raise ConfigurationError(
                f"{where}.samples must be a positive number of points for sampler {self.sampler!r}"
            )


@dataclass(frozen=True)
class ParameterSettings(Settings):
    """One ``[design.parameters]`` entry: ``range = [low, high]`` (``points`` for a grid) or ``values``."""

    TABLE: ClassVar[str] = "design.parameters.x"
    EXAMPLE: ClassVar[dict] = {"range": [0.0, 1.0], "points": 2}

    range: tuple[float, float] | None = setting(None, Optional(Bounds()))
    values: tuple = setting((), Values())
    points: int = setting(0, Int(minimum=0))
    integer: bool = setting(False, Flag())

    def check(self, where: str) -> None:
        """Exactly one of range and values."""
        if self.range is None and not self.values:
            raise ConfigurationError(f"{where} needs range = [low, high] or values = [...]")


def _parameter(name: str, spec: Any, where: str, sampler: str) -> Parameter:
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        spec = {"values": list(spec)}
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{where} must be a table (range = [lo, hi] or values = [...]) or a list")
    settings = ParameterSettings.from_mapping(spec, where)
    if settings.values:
        return Parameter(name, values=settings.values)
    if sampler == "grid" and settings.points < 2:
        raise ConfigurationError(f"{where}.points must be >= 2 for grid sampling of a range")
    low, high = settings.range
    return Parameter(name, low=low, high=high, points=settings.points, integer=settings.integer)
