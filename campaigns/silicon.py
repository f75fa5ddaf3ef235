"""Liquid silicon with HOOMD-blue's own Tersoff potential: the teacher of the many-body ML potential.

Units: eV, angstrom, atomic mass units (time unit 10.18 fs). Tersoff's T3 silicon
(Phys. Rev. B 38, 9902 (1988); LAMMPS's ``Si.tersoff``) in HOOMD's parametrisation
(``md.many_body.Tersoff``: ``dimer_r = 0``, so the magnitudes are Tersoff's A and B;
its exponential cutoff function over 2.7-3.0 A instead of Tersoff's sine, with ``alpha`` negative:
see ``TERSOFF``). A liquid at 3500 K (kT = 0.3016 eV) and the density of the diamond crystal it
melts from (``melt``).

Used by the example (``examples/learn_tersoff.py``), the tests and
``benchmarks/bench_many_body.py``.
"""

from __future__ import annotations

import numpy as np

MASS = 28.0855
LATTICE = 5.431
KT = 0.3016
DT = 0.1
CUTOFF = 3.0
TERSOFF = {
    "magnitudes": (1830.8, 471.18),
    "exp_factors": (2.4799, 1.7322),
    "lambda3": 0.0,
    "dimer_r": 0.0,
    "cutoff_thickness": 0.3,
    # HOOMD negates alpha internally (EvaluatorTersoff.h: alpha = -1 * v["alpha"]), so its documented
    # default, alpha = 3, makes f_C grow without bound towards r_cut (a dimer's energy falls to -100 eV
    # at 2.95 A); a negative alpha gives the cutoff function that falls smoothly to zero.
    "alpha": -3.0,
    "n": 0.78734,
    "gamma": 1.1e-6,
    "c": 1.0039e5,
    "d": 16.217,
    "m": -0.59825,
}


def diamond_frame(cells: int = 3, seed: int = 1, jitter: float = 0.05):
    """A gsd frame: ``cells``^3 conventional diamond cells of Si (8 atoms each), slightly jittered."""
    import gsd.hoomd

    basis = (
        np.array(
            [[0, 0, 0], [0, 2, 2], [2, 0, 2], [2, 2, 0], [3, 3, 3], [3, 1, 1], [1, 3, 1], [1, 1, 3]],
            dtype=float,
        )
        / 4.0
    )
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = ((grid[:, None, :] + basis[None, :, :]).reshape(-1, 3) + 0.125) * LATTICE
    length = cells * LATTICE
    positions -= length / 2
    positions += np.random.default_rng(seed).normal(0.0, jitter, positions.shape)
    frame = gsd.hoomd.Frame()
    frame.particles.N = len(positions)
    frame.particles.position = positions
    frame.particles.typeid = np.zeros(len(positions), dtype=np.int32)
    frame.particles.types = ["Si"]
    frame.particles.mass = np.full(len(positions), MASS)
    frame.configuration.box = [length, length, length, 0, 0, 0]
    return frame


def tersoff(hoomd, nlist=None):
    """HOOMD's Tersoff force for silicon (``nlist``: a new cell list with buffer 0.4 by default)."""
    force = hoomd.md.many_body.Tersoff(nlist=nlist or hoomd.md.nlist.Cell(buffer=0.4), default_r_cut=CUTOFF)
    force.params[("Si", "Si")] = dict(TERSOFF)
    return force


def melt(sim, hot_steps: int = 2000, steps: int = 3000) -> None:
    """Melt the crystal at twice ``KT`` (7000 K), then equilibrate the liquid at ``KT``.

    At 3500 K alone the jittered crystal superheats for thousands of steps (potential energy
    -4.17 eV/atom after 3000 steps, a hot crystal); at 7000 K it melts within 1000 steps, and
    the liquid at 3500 K holds -3.66 +- 0.03 eV/atom (measured, 216 atoms).
    """
    thermostat = sim.operations.integrator.methods[0].thermostat
    kT = thermostat.kT
    thermostat.kT = 2 * KT
    sim.run(hot_steps)
    thermostat.kT = kT
    sim.run(steps)


def simulation(hoomd, force, frame=None, seed: int = 1, kT: float = KT, thermostat: bool = True):
    """A simulation of ``frame`` (default: 216 atoms) driven by ``force``: Bussi NVT at ``kT`` or NVE."""
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=seed)
    sim.create_state_from_snapshot(frame if frame is not None else diamond_frame())
    thermo = hoomd.md.methods.thermostats.Bussi(kT=kT, tau=0.1) if thermostat else None
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=thermo)
    sim.operations.integrator = hoomd.md.Integrator(dt=DT, forces=[force], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=kT)
    return sim


def bond_angles(positions: np.ndarray, box, r_max: float = 2.8) -> np.ndarray:
    """Every angle j-i-k [degrees] between two neighbors j, k of i closer than ``r_max`` (the first shell)."""
    import freud

    fbox = freud.box.Box(*box)
    nl = (
        freud.locality.AABBQuery(fbox, positions)
        .query(positions, {"r_max": r_max, "exclude_ii": True})
        .toNeighborList()
    )
    vectors = fbox.wrap(positions[nl.point_indices] - positions[nl.query_point_indices])
    angles = []
    for start, count in zip(nl.segments, nl.neighbor_counts, strict=True):
        v = vectors[start : start + count]
        if count < 2:
            continue
        unit = v / np.linalg.norm(v, axis=1)[:, None]
        cos = unit @ unit.T
        upper = np.triu_indices(count, 1)
        angles.append(np.degrees(np.arccos(np.clip(cos[upper], -1.0, 1.0))))
    return np.concatenate(angles) if angles else np.zeros(0)


def structure(frames, bins_r: int = 60, bins_angle: int = 36, r_max: float = 6.0, blocks: int = 5) -> dict:
    """g(r) and the bond-angle distribution of ``frames`` ((positions, box) pairs), with block errors.

    Returns:
        ``{"r", "rdf", "rdf_err", "angle", "adf", "adf_err"}``: bin centres, the means over
        ``blocks`` consecutive blocks of frames and the standard errors of those means.
    """
    import freud

    rdfs, adfs = [], []
    edges = np.linspace(0.0, 180.0, bins_angle + 1)
    for positions, box in frames:
        rdf = freud.density.RDF(bins=bins_r, r_max=r_max)
        rdf.compute((freud.box.Box(*box), positions), reset=True)
        rdfs.append(rdf.rdf)
        hist, _ = np.histogram(bond_angles(positions, box), bins=edges, density=True)
        adfs.append(hist)
    out = {"r": rdf.bin_centers, "angle": 0.5 * (edges[1:] + edges[:-1])}
    for name, values in (("rdf", np.array(rdfs)), ("adf", np.array(adfs))):
        block_means = np.array([b.mean(0) for b in np.array_split(values, blocks)])
        out[name] = block_means.mean(0)
        out[f"{name}_err"] = block_means.std(0, ddof=1) / np.sqrt(blocks)
    return out


def within_error_bars(a: dict, b: dict, name: str, sigmas: float = 2.0, floor: float = 1e-3) -> float:
    """float: Share of bins where two distributions agree within ``sigmas`` combined standard errors.

    Bins where both are below ``floor`` (nothing there) are left out.
    """
    diff = np.abs(a[name] - b[name])
    err = np.sqrt(a[f"{name}_err"] ** 2 + b[f"{name}_err"] ** 2)
    occupied = (a[name] > floor) | (b[name] > floor)
    return float(np.mean(diff[occupied] <= sigmas * err[occupied]))
