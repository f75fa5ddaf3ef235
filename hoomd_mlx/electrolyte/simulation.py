r"""HOOMD-blue pieces of the confined-electrolyte simulation.

- ions: `hoomd.md.pair.LJ` with WCA parameters (``mode="shift"``, cut at
  :math:`2^{1/6}\sigma_{ij}`, :math:`\sigma_{ij} = (d_i + d_j)/2`);
- walls: `hoomd.md.external.wall.LJ` on two planes, WCA with :math:`\sigma = d_i/2`;
- Coulomb: `hoomd.md.long_range.pppm.make_pppm_coulomb_forces` in the box padded
  with vacuum along z, plus the slab correction (`hoomd_mlx.electrolyte.slab`)
  through `hoomd_mlx.TensorFlowForce`;
- NVT: `hoomd.md.methods.ConstantVolume` on the ions with a Nose-Hoover (MTTK, as
  the reference LAMMPS runs) or Bussi thermostat. Wall mesh points never move.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from hoomd_mlx.electrolyte.system import WCA_CUT, ElectrolyteSetup
from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Int, Number, Settings, setting

__all__ = ["RunSettings", "add_forces", "add_integrator", "build_state", "ion_filter"]


@dataclass(frozen=True)
class RunSettings(Settings):
    """How one state point is simulated (reduced units: length sigma, energy kT, mass 1).

    Attributes:
        dt: Time step.
        equilibration_steps: Steps before sampling starts.
        production_steps: Steps sampled for the density profiles.
        sample_every: Steps between sampled frames.
        blocks: Blocks for the error bars of the profiles.
        thermostat: ``"nose-hoover"`` (MTTK) or ``"bussi"``.
        tau: Thermostat time constant.
        r_cut: Real-space cutoff of PPPM. With the default grid, Coulomb forces are
            within 0.1% (rms) of a converged PPPM (``tests/test_electrolyte_hoomd.py``).
        grid: ``"even"`` (the box over ``grid_spacing``, rounded up to even) or
            ``"power-of-two"`` (rounded up to a power of two, as HOOMD's distributed
            PPPM needs; chosen automatically under MPI).
        grid_spacing: PPPM grid spacing (the grid is the box over this, rounded up
            to even). HOOMD's CPU PPPM costs about linearly in grid points.
        order: PPPM assignment order.
        slab: ``"tensorflow"`` (the slab correction through `TensorFlowForce`) or
            ``"none"`` (plain PPPM, for comparison).
        seed: Random seed for placement and velocities.
    """

    TABLE: ClassVar[str] = "job.settings"

    dt: float = setting(0.005, Number(minimum=0.0, above=True))
    equilibration_steps: int = setting(2000, Int(minimum=0))
    production_steps: int = setting(20000, Int(minimum=1))
    sample_every: int = setting(100, Int(minimum=1))
    blocks: int = setting(10, Int(minimum=1))
    thermostat: str = setting("nose-hoover", Choice(("nose-hoover", "bussi")))
    tau: float = setting(0.1, Number(minimum=0.0, above=True))
    r_cut: float = setting(5.0, Number(minimum=0.0, above=True))
    grid_spacing: float = setting(1.2, Number(minimum=0.0, above=True))
    grid: str = setting("even", Choice(("even", "power-of-two")))
    order: int = setting(5, Int(minimum=1, maximum=7))
    slab: str = setting("tensorflow", Choice(("tensorflow", "none")))
    seed: int = setting(1, Int(minimum=0))

    def __post_init__(self) -> None:
        self.check("job.settings")

    def check(self, where: str) -> None:
        """At least one sample per block of the production run."""
        if self.production_steps < self.sample_every * self.blocks:
            raise ConfigurationError(
                f"{where}.production_steps = {self.production_steps} gives fewer than one sample per block "
                f"({where}.sample_every = {self.sample_every}, {where}.blocks = {self.blocks}); run longer"
            )

    def as_dict(self) -> dict:
        """The settings as a plain dict."""
        return asdict(self)

    @property
    def total_steps(self) -> int:
        """int: Equilibration plus production steps."""
        return self.equilibration_steps + self.production_steps


def ion_filter(hoomd: Any) -> Any:
    """The HOOMD filter selecting the mobile ions."""
    return hoomd.filter.Type(["P", "N", "C"])


def build_state(sim: Any, setup: ElectrolyteSetup, settings: RunSettings) -> None:
    """Create the state: ions placed without overlap, wall mesh charges, thermal velocities."""
    import hoomd

    rng = np.random.default_rng(settings.seed)
    ions, names = setup.ion_positions(rng)
    mesh = setup.mesh_positions()
    types = setup.types
    type_names = np.concatenate([names, np.full(len(mesh), "S")])
    snapshot = hoomd.Snapshot()
    if snapshot.communicator.rank == 0:
        n = len(ions) + len(mesh)
        snapshot.configuration.box = [*setup.box, 0, 0, 0]
        snapshot.particles.N = n
        snapshot.particles.types = types
        snapshot.particles.position[:] = np.vstack([ions, mesh])
        snapshot.particles.typeid[:] = [types.index(t) for t in type_names]
        snapshot.particles.charge[:] = [setup.charge(t) for t in type_names]
        snapshot.particles.diameter[:] = [setup.diameter.get(t, 0.0) for t in type_names]
        snapshot.particles.mass[:] = 1.0
    # Under MPI, domains split the walls' plane only: along z half the box is vacuum, and
    # the slab is too thin for PPPM's real-space ghost layer.
    sim.create_state_from_snapshot(snapshot, domain_decomposition=(None, None, 1))
    sim.state.thermalize_particle_momenta(filter=ion_filter(hoomd), kT=1.0)


def _grid(length: float, spacing: float, power_of_two: bool = False) -> int:
    n = max(8, math.ceil(length / spacing))
    return 2 ** math.ceil(math.log2(n)) if power_of_two else n + n % 2


def add_forces(sim: Any, setup: ElectrolyteSetup, settings: RunSettings) -> list:
    """Attach WCA pairs, WCA walls, PPPM and the slab correction to ``sim``'s integrator.

    Must be called after `add_integrator`. Returns the forces.
    """
    import hoomd

    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    wca = hoomd.md.pair.LJ(nlist=nlist, mode="shift")
    for a in setup.types:
        for b in setup.types:
            if "S" in (a, b):
                wca.params[(a, b)] = {"epsilon": 0.0, "sigma": 1.0}
                wca.r_cut[(a, b)] = 0.0
            else:
                sigma = 0.5 * (setup.diameter[a] + setup.diameter[b])
                wca.params[(a, b)] = {"epsilon": 1.0, "sigma": sigma}
                wca.r_cut[(a, b)] = WCA_CUT * sigma
    half = setup.channel / 2
    planes = [
        hoomd.wall.Plane(origin=(0, 0, -half), normal=(0, 0, 1)),
        hoomd.wall.Plane(origin=(0, 0, half), normal=(0, 0, -1)),
    ]
    walls = hoomd.md.external.wall.LJ(walls=planes)
    for t in setup.types:
        if t == "S":
            walls.params[t] = {"epsilon": 0.0, "sigma": 1.0, "r_cut": 0.0}
        else:
            radius = setup.diameter[t] / 2
            walls.params[t] = {"epsilon": 1.0, "sigma": radius, "r_cut": WCA_CUT * radius}
    # HOOMD's PPPM on several ranks needs a power of two along every direction.
    power_of_two = settings.grid == "power-of-two" or sim.device.communicator.num_ranks > 1
    resolution = tuple(_grid(length, settings.grid_spacing, power_of_two) for length in setup.box)
    ewald, pppm = hoomd.md.long_range.pppm.make_pppm_coulomb_forces(
        nlist=nlist, resolution=resolution, order=settings.order, r_cut=settings.r_cut
    )
    forces = [wca, walls, ewald, pppm]
    if settings.slab == "tensorflow":
        from hoomd_mlx import TensorFlowForce
        from hoomd_mlx.electrolyte.slab import SlabCorrection

        forces.append(TensorFlowForce(SlabCorrection(), kind="many-body"))
    sim.operations.integrator.forces.extend(forces)
    sim.run(0)  # attach: PPPM sets every pair's real-space cutoff here
    if setup.mesh:
        ewald.r_cut[("S", "S")] = 0.0  # the fixed mesh points need no forces between themselves
    return forces


def add_integrator(sim: Any, settings: RunSettings) -> Any:
    """NVT on the ions (the wall mesh stays fixed)."""
    import hoomd

    if settings.thermostat == "bussi":
        thermostat = hoomd.md.methods.thermostats.Bussi(kT=1.0, tau=settings.tau)
    else:
        thermostat = hoomd.md.methods.thermostats.MTTK(kT=1.0, tau=settings.tau)
    method = hoomd.md.methods.ConstantVolume(filter=ion_filter(hoomd), thermostat=thermostat)
    integrator = hoomd.md.Integrator(dt=settings.dt, methods=[method])
    sim.operations.integrator = integrator
    return integrator
