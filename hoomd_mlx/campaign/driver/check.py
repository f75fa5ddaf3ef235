"""``hoomd-mlx campaign check``: changed simulation code against what a campaign's surrogate learned.

A trained surrogate is a benchmark of existing understanding (Sharma & Jadhao 2021): before
a new pair potential, integrator setting or code version is trusted, run it at a few design
points where the surrogate is confident and compare. `check_campaign`

1. picks ``points`` design points spread over the part of the space the surrogate knows
   (its calibrated band within the tolerance, `hoomd_mlx.campaign.driver.space`; the most
   confident points when it knows fewer);
2. runs the changed job there as a small campaign of its own (``DIR/checks/NNN``: the
   same spec, its design replaced by those points, its job function and settings changed
   as asked), on the same kind of cluster;
3. compares each result with the surrogate's calibrated prediction: per output component
   ``z = (result - mean) / sqrt(std^2 + error^2)`` (``error``: the result's own error bar),
   and per point the rms of ``z`` over the components. A point agrees when that is at most
   ``sigma`` (default 2: inside the two-sigma band); otherwise it is outside the band by
   that many sigma.

The command exits non-zero when any point is outside the band or failed, so it can gate a
continuous integration of the user's own.
"""

from __future__ import annotations

import copy
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hoomd_mlx.campaign.config.functions import resolve_function
from hoomd_mlx.campaign.config.spec import load_spec, spec_from_mapping
from hoomd_mlx.campaign.driver.learner import flatten_outputs, latest_surrogate
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.runner import run_campaign
from hoomd_mlx.campaign.driver.space import DesignRange, design_record, tolerance_at
from hoomd_mlx.coupling.completion import point_band
from hoomd_mlx.errors import ConfigurationError

__all__ = ["check_campaign", "choose_points", "format_check"]

logger = logging.getLogger(__name__)


def choose_points(
    model, settings, space: DesignRange, X_train: np.ndarray, noise: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` inputs spread over the known part of ``space``, and their band half-widths.

    The half-width is the calibrated two-sigma band in units of the tolerance (the point
    calibration when the model has one, else its per-output calibration as it is); known: <= 1.
    """
    unit = space.samples[0]
    X = space.inputs(unit)
    mean, std = model.predict(X)
    tolerance = tolerance_at(settings, X, mean, X_train, noise)
    calibration = getattr(model, "point_calibration", None)
    width = calibration.half_width(std, tolerance) if calibration else 2.0 * point_band(std, tolerance)
    candidates = np.flatnonzero(width <= 1.0)
    if len(candidates) < count:
        logger.warning(
            "the surrogate knows %d of %d sampled points; checking the %d most confident",
            len(candidates),
            len(width),
            count,
        )
        candidates = np.argsort(width)[:count]
    chosen = [candidates[np.argmin(width[candidates])]]
    while len(chosen) < min(count, len(candidates)):  # farthest point first: spread over the space
        distance = np.min(np.linalg.norm(unit[candidates][:, None] - unit[chosen][None], axis=2), axis=1)
        chosen.append(candidates[int(np.argmax(distance))])
    return X[chosen], width[chosen]


def _value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (numbers, booleans, quoted strings); else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _spec_path(directory: Path, spec: str | Path | None) -> Path:
    if spec is None:
        with Ledger.in_directory(directory) as ledger:
            spec = ledger.meta("spec")
    path = Path(spec) if spec else None
    if path is None or not path.is_file():
        raise ConfigurationError(
            f"the spec of campaign {directory} ({spec!r}) is not found; give it with --spec PATH"
        )
    return path


def check_campaign(
    directory: str | Path,
    *,
    spec: str | Path | None = None,
    job: str | None = None,
    settings: Mapping[str, str] | None = None,
    points: int = 4,
    sigma: float = 2.0,
    workers: int | None = None,
    announce: Callable[[str], None] = logger.info,
) -> dict:
    """Run the changed job at ``points`` confident design points; compare with the surrogate.

    Args:
        directory: The campaign directory (its ledger and surrogate versions).
        spec: Its spec (default: the path the ledger recorded).
        job: The changed job function, ``module:function`` (default: the spec's).
        settings: ``[job.settings]`` to change, as ``key: TOML value`` text.
        points: Design points to run.
        sigma: Agreement: rms z at most this.
        workers: Workers of the check's own campaign (default: at most the spec's).
        announce: Receives what is being run and where.

    Returns:
        dict: ``passed``, the checks' directory and one entry per point (params, z per output,
        rms z, agree).
    """
    if points < 1 or not sigma > 0:
        raise ConfigurationError(f"--points = {points} and --sigma = {sigma}: expected >= 1 and > 0")
    directory = Path(directory)
    model, record, parameters, outputs, widths = latest_surrogate(directory)
    path = _spec_path(directory, spec)
    raw = tomllib.loads(path.read_text())
    base = load_spec(path)
    if base.surrogate is None:
        raise ConfigurationError(f"{path} has no [surrogate] table: there is nothing to check against")
    function = job or base.job.function
    try:
        resolve_function(function, (*base.search_path, str(Path.cwd())))
    except ConfigurationError as err:
        raise ConfigurationError(f"--job {function}: {err}") from err
    s = base.surrogate
    with Ledger.in_directory(directory) as ledger:
        done = [j for j in ledger.jobs("done") if all(o in (j.result or {}) for o in s.outputs)]
    X_train = np.array([[float(j.params[p]) for p in parameters] for j in done])
    noise = np.array([flatten_outputs(j.result, s.outputs, s.errors) for j in done])
    space = DesignRange(design_record(base.design), parameters)
    X, width = choose_points(model, s, space, X_train, noise, points)
    integer = {p.name for p in base.design.parameters if p.integer}
    design = [
        {p: (round(v) if p in integer else float(v)) for p, v in zip(parameters, x, strict=True)} for x in X
    ]
    raw = copy.deepcopy(raw)
    raw["campaign"]["name"] = f"{base.name}-check"
    raw["design"] = {"sampler": "list", "points": design}
    raw["job"]["function"] = function
    raw["job"].setdefault("settings", {}).update({k: _value(v) for k, v in (settings or {}).items()})
    for table in ("surrogate", "cloud"):
        raw.pop(table, None)
    check_spec = spec_from_mapping(raw, source=path)
    roots = directory / "checks"
    number = 1 + max((int(p.name) for p in roots.glob("[0-9][0-9][0-9]")), default=0)
    where = roots / f"{number:03d}"
    announce(f"checking {function} at {len(design)} design points against surrogate v{record['version']}")
    run_campaign(
        check_spec,
        where,
        workers=workers or min(len(design), base.resources.workers),
        progress=False,
        announce=announce,
    )
    results = []
    with Ledger.in_directory(where) as ledger:
        by_params = {tuple(float(j.params[p]) for p in parameters): j for j in ledger.jobs()}
    mean, std = model.predict(np.array([[float(d[p]) for p in parameters] for d in design]))
    for k, params in enumerate(design):
        job_record = by_params[tuple(float(params[p]) for p in parameters)]
        entry = {"params": params, "band_half_width": float(width[k]), "state": job_record.state}
        if job_record.state != "done":
            results.append({**entry, "agree": False, "error": job_record.error})
            continue
        y = flatten_outputs(job_record.result, s.outputs)
        e = flatten_outputs(job_record.result, s.outputs, s.errors)
        scale = np.sqrt(std[k] ** 2 + e**2)
        z = np.divide(y - mean[k], scale, out=np.where(y == mean[k], 0.0, np.inf), where=scale > 0)
        rms = float(np.sqrt(np.mean(z**2)))
        by_output, start = {}, 0
        for name, size in zip(outputs, widths, strict=True):
            by_output[name] = float(np.sqrt(np.mean(z[start : start + size] ** 2)))
            start += size
        results.append({**entry, "z": by_output, "rms_z": rms, "agree": rms <= sigma})
    return {
        "passed": all(r["agree"] for r in results),
        "job": function,
        "settings": dict(settings or {}),
        "surrogate_version": record["version"],
        "sigma": sigma,
        "directory": str(where),
        "points": results,
    }


def format_check(result: Mapping[str, Any], parameters: Sequence[str] | None = None) -> str:
    """A human-readable rendering of `check_campaign`'s result."""
    changed = ", ".join(f"{k}={v}" for k, v in result["settings"].items())
    lines = [
        f"check of {result['job']}{f' ({changed})' if changed else ''} against surrogate "
        f"v{result['surrogate_version']}, agreement within {result['sigma']:g} sigma:"
    ]
    for r in result["points"]:
        where = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items()
        )
        if r["state"] != "done":
            lines.append(
                f"  {where}: FAILED ({r['state']}): {(r.get('error') or '').strip().splitlines()[-1:]}"
            )
            continue
        detail = ", ".join(f"{name} {z:.2f}" for name, z in r["z"].items())
        verdict = "agrees" if r["agree"] else f"OUTSIDE the band by {r['rms_z']:.1f} sigma"
        lines.append(f"  {where}: {verdict} (rms z {r['rms_z']:.2f}; {detail})")
    outside = sum(not r["agree"] for r in result["points"])
    lines.append(
        "passed: every point agrees"
        if result["passed"]
        else f"FAILED: {outside} of {len(result['points'])} points"
    )
    lines.append(f"runs: {result['directory']}")
    return "\n".join(lines)
