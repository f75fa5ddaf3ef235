"""The analyses a spec can ask for (``[[analysis]]``): one registry of their settings, functions and curves.

Each kind has its settings class (validated when the spec loads), the function in
`hoomd_mlx.campaign.analysis` that runs it on a job's trajectory, and the arrays of its
result that ``campaign report`` draws as its curve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Int, Number, Settings, setting

__all__ = ["ANALYSES", "Analysis", "Curve", "analysis_settings"]


@dataclass(frozen=True)
class RdfSettings(Settings):
    """``kind = "rdf"``: the radial distribution function (``freud.density.RDF``)."""

    TABLE: ClassVar[str] = "analysis[0]"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("kind",)
    bins: int = setting(100, Int(minimum=1))
    r_max: float = setting(3.0, Number(minimum=0.0, above=True))
    frames: int = setting(0, Int(minimum=0))


@dataclass(frozen=True)
class DensityProfileSettings(Settings):
    """``kind = "density_profile"``: number density per type along an axis, with block errors."""

    TABLE: ClassVar[str] = "analysis[0]"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("kind",)
    axis: str = setting("z", Choice(("x", "y", "z")))
    bins: int = setting(50, Int(minimum=1))
    frames: int = setting(0, Int(minimum=0))
    blocks: int = setting(5, Int(minimum=1))


@dataclass(frozen=True)
class MsdSettings(Settings):
    """``kind = "msd"``: the mean squared displacement (``freud.msd.MSD``)."""

    TABLE: ClassVar[str] = "analysis[0]"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("kind",)
    frames: int = setting(0, Int(minimum=0))


@dataclass(frozen=True)
class Curve:
    """Which arrays of an analysis are its curve, and how to label it.

    ``y`` (and ``error``, its error bar) is one curve, or one per row when 2-D (rows
    named by the array ``rows``, e.g. the particle types of a density profile).
    """

    title: str
    x: str
    y: str
    x_label: str
    y_label: str
    error: str | None = None
    rows: str | None = None


@dataclass(frozen=True)
class Analysis:
    """One kind: its settings class, its function's name in `hoomd_mlx.campaign.analysis`, its curve."""

    settings: type[Settings]
    function: str
    curve: Curve


ANALYSES = {
    "rdf": Analysis(
        RdfSettings, "rdf", Curve("radial distribution function", "r", "g", "r [length]", "g(r)")
    ),
    "density_profile": Analysis(
        DensityProfileSettings,
        "density_profile",
        Curve(
            "number density profile",
            "centers",
            "density",
            "position along the axis [length]",
            "number density [1/length^3]",
            error="error",
            rows="types",
        ),
    ),
    "msd": Analysis(
        MsdSettings,
        "msd",
        Curve("mean squared displacement", "lag_steps", "msd", "lag [steps]", "MSD [length^2]"),
    ),
}
"""dict: Every analysis kind a spec can ask for."""


def analysis_settings(item: Any, where: str) -> dict:
    """One ``[[analysis]]`` table validated, with its defaults filled in (``kind`` included)."""
    if not hasattr(item, "get"):
        raise ConfigurationError(f"{where} = {item!r}; expected a table ([[analysis]])")
    kind = item.get("kind")
    if kind not in ANALYSES:
        raise ConfigurationError(f"{where}.kind = {kind!r}; expected one of {sorted(ANALYSES)}")
    return {"kind": kind, **asdict(ANALYSES[kind].settings.from_mapping(item, where))}
