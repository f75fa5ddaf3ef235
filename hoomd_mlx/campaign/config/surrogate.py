"""The ``[surrogate]`` table: a surrogate that learns while the campaign runs (`driver.learner`).

The ``[surrogate]`` table of a spec::

    [surrogate]
    model = "keras"              # keras: an ensemble of networks (Surrogate) | kernel: splines
                                 # chosen by cross-validation, a calibrated jackknife (KernelSurrogate)
    outputs = ["pressure", "potential_energy_per_particle"]   # result keys to learn (numbers,
                                                              # or lists such as density profiles)
    errors = { pressure = "pressure_err" }                    # optional: result keys of their error bars
    tolerance = 0.05             # error bar floor, relative to |value| ...
    absolute_tolerance = 0.0     # ... and absolute
    error_scale = 1.0            # agreement: within this many error bars (1: the published metric)
    stop_at_error_bars = false   # stop each fit once it is within the error bars (noisy outputs)
    retrain_every = 4            # new results between retrains
    target = 0.95                # validation within-error-bar accuracy that ends the simulations
    completion = 0.9             # optional: ... and only once this share of the design space is
                                 # known (the calibrated 2-sigma band within the tolerance there;
                                 # hoomd_mlx.coupling.completion), in (0, 1]
    strategy = "disagreement"    # disagreement | random | space_filling: which pending jobs run next
    members = 5                  # ensemble members (kernel: cross-validation folds, >= 3)
    epochs = 2000                # keras only
    update_epochs = 500          # keras only
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hoomd_mlx.coupling.active import STRATEGIES
from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Flag, Int, Number, Optional, Settings, Table, Texts, setting

__all__ = ["MODELS", "SurrogateSettings", "error_bars"]

MODELS = ("keras", "kernel")


@dataclass(frozen=True)
class SurrogateSettings(Settings):
    """The validated ``[surrogate]`` table."""

    TABLE: ClassVar[str] = "surrogate"
    EXAMPLE: ClassVar[dict] = {"outputs": ["pressure"]}

    outputs: tuple[str, ...] = setting(check=Texts(nonempty=True))
    model: str = setting("keras", Choice(MODELS))
    errors: Mapping[str, str] = setting(
        check=Table(expects="a table (output = 'error column')"), default_factory=dict
    )
    tolerance: float = setting(0.05, Number(minimum=0.0))
    absolute_tolerance: float = setting(0.0, Number(minimum=0.0))
    error_scale: float = setting(1.0, Number(minimum=0.0, above=True))
    stop_at_error_bars: bool = setting(False, Flag())
    retrain_every: int = setting(4, Int(minimum=1))
    target: float = setting(0.95, Number(minimum=0.0, maximum=1.0, above=True))
    completion: float | None = setting(None, Optional(Number(minimum=0.0, maximum=1.0, above=True)))
    strategy: str = setting("disagreement", Choice(tuple(sorted(STRATEGIES))))
    members: int = setting(5, Int(minimum=2))
    epochs: int = setting(2000, Int(minimum=1))
    update_epochs: int = setting(500, Int(minimum=1))

    @classmethod
    def from_mapping(cls, table: Any, where: str | None = None) -> SurrogateSettings:
        """Validate, naming the key at fault (see `hoomd_mlx.settings.Settings.from_mapping`)."""
        return super().from_mapping(table, where)

    def check(self, where: str) -> None:
        """Kernel folds >= 3; a completion needs a tolerance to measure the bands against."""
        if self.completion is not None and not (self.errors or self.tolerance or self.absolute_tolerance):
            raise ConfigurationError(
                f"{where}.completion = {self.completion} needs a tolerance to judge the bands against: "
                f"give {where}.errors (the results' error bars), {where}.tolerance or "
                f"{where}.absolute_tolerance > 0"
            )
        if self.model == "kernel" and self.members < 3:
            raise ConfigurationError(
                f"{where}.members = {self.members} with model = 'kernel'; expected >= 3 "
                "(the kernel surrogate's members are its cross-validation folds)"
            )


def error_bars(settings: SurrogateSettings, values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """The error bars the surrogate trains and is judged with: the results' own, floored by the tolerances."""
    return np.maximum(errors, np.maximum(settings.tolerance * np.abs(values), settings.absolute_tolerance))
