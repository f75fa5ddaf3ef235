r"""The confined electrolyte: ions of a salt solution between two planar walls.

This is the model of Kadupitiya, Jadhao et al. (``softmaterialslab/nanoconfinement-md``,
the "group's code" below) in HOOMD-blue's reduced units:

- length: the smaller ion diameter; energy: :math:`k_B T` at 298 K; mass: one ion;
- implicit water of relative permittivity 80, so charges are valencies times
  :math:`\sqrt{\ell_B / \sigma}` with the Bjerrum length :math:`\ell_B` = 0.714 nm;
- ions are WCA spheres, the walls are planes at :math:`z = \pm Z/2`;
- charged walls are neutralised by monovalent counterions of the cation's size.
  They are uniformly charged sheets (``walls="sheet"``, as the group's own code
  treats them; their field enters through the slab correction, see
  `hoomd_mlx.electrolyte.slab`) or square meshes of point charges on the planes
  (``walls="mesh"``, as the group writes them for LAMMPS; ~10x the particles);
- the box is periodic in x and y and padded with vacuum in z (``slab_factor``
  times the channel width) for PPPM with the Yeh-Berkowitz slab correction.

`Electrolyte` holds the physical inputs; `Electrolyte.setup` turns them into the
particle counts, charges and sizes of one simulation (`ElectrolyteSetup`), with
clear errors for inputs that cannot be simulated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hoomd_mlx.errors import ConfigurationError

__all__ = ["AVOGADRO_NM3", "BJERRUM_NM", "WCA_CUT", "Electrolyte", "ElectrolyteSetup"]

BJERRUM_NM = 0.714
"""Bjerrum length of water at 298 K [nm], as in the group's code."""

AVOGADRO_NM3 = 0.6022
"""Ions per nm^3 in a 1 M solution."""

WCA_CUT = 2.0 ** (1.0 / 6.0)
"""WCA cutoff in units of sigma."""

ELEMENTARY_CHARGE = 1.602176634e-19  # [C]


def _group_box_xy(c: float) -> float:
    """The group's choice of lateral box size [nm]: 10 nm above 0.5 M, else 15 nm."""
    return 10.0 if c > 0.5 else 15.0


def _group_mesh(c: float) -> int:
    """Mesh points per side of a charged wall in the group's code (28 or 42)."""
    return 28 if c > 0.5 else 42


@dataclass(frozen=True)
class Electrolyte:
    r"""Physical inputs of one confined-electrolyte state point.

    Args:
        Z: Confinement length, wall to wall [nm].
        c: Salt concentration [M] (anions per volume of the channel, as the group
            defines it).
        d: Cation diameter [nm].
        a: Anion diameter [nm].
        p: Cation valency (positive integer).
        n: Anion valency (negative integer).
        i: Surface charge density of each wall [C/m^2] (zero or negative).
        box_xy: Lateral box size [nm]; default the group's rule (10 nm above 0.5 M,
            else 15 nm).
        mesh: Mesh points per side discretising a charged wall; default the group's
            rule (28 above 0.5 M, else 42).
        bjerrum: Bjerrum length [nm].
        slab_factor: Box height over channel width (vacuum padding for PPPM).
        walls: ``"sheet"`` (uniform surface charge) or ``"mesh"`` (point charges).
    """

    Z: float
    c: float
    d: float
    a: float
    p: int = 1
    n: int = -1
    i: float = 0.0
    box_xy: float | None = None
    mesh: int | None = None
    bjerrum: float = BJERRUM_NM
    slab_factor: float = 3.0
    walls: str = "sheet"

    def __post_init__(self) -> None:
        if self.walls not in ("sheet", "mesh"):
            raise ConfigurationError(f"walls = {self.walls!r}; expected 'sheet' or 'mesh'")
        for name in ("Z", "c", "d", "a", "bjerrum"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if int(self.p) != self.p or self.p < 1:
            raise ConfigurationError(f"cation valency p must be a positive integer, got {self.p!r}")
        if int(self.n) != self.n or self.n > -1:
            raise ConfigurationError(f"anion valency n must be a negative integer, got {self.n!r}")
        if self.i > 0:
            raise ConfigurationError(
                f"surface charge i = {self.i} C/m^2 is positive; only neutral or negatively charged "
                "walls (neutralised by cations) are supported"
            )
        if self.box_xy is not None and self.box_xy <= 0:
            raise ConfigurationError(f"box_xy must be positive, got {self.box_xy!r}")
        if self.mesh is not None and self.mesh < 1:
            raise ConfigurationError(f"mesh must be a positive integer, got {self.mesh!r}")
        if self.slab_factor < 2:
            raise ConfigurationError(
                f"slab_factor = {self.slab_factor} leaves too little vacuum for the slab correction; "
                "use >= 2 (3 is usual)"
            )

    @classmethod
    def from_params(cls, params: dict, **overrides) -> Electrolyte:
        """Build from a campaign design point (keys Z, c, d, a, p, n, i; extra keys ignored)."""
        known = {k: params[k] for k in ("Z", "c", "d", "a", "p", "n", "i") if k in params}
        known.update(overrides)
        missing = [k for k in ("Z", "c", "d", "a") if k not in known]
        if missing:
            raise ConfigurationError(
                f"electrolyte state point lacks {missing}; give them in [design] or [job.settings]"
            )
        return cls(**known)

    def setup(self) -> ElectrolyteSetup:
        """Counts, charges and sizes of the simulation, in reduced units.

        Raises:
            ConfigurationError: When the ions do not fit in the channel, there is no
                salt in the box, or the system cannot be made neutral.
        """
        sigma = min(self.d, self.a)  # unit of length [nm], as in the group's code
        box_xy = self.box_xy if self.box_xy is not None else _group_box_xy(self.c)
        mesh = self.mesh if self.mesh is not None else _group_mesh(self.c)
        bigger = max(self.d, self.a)
        if self.Z <= bigger:
            raise ConfigurationError(
                f"the channel (Z = {self.Z} nm) is no wider than the larger ion ({bigger} nm); "
                "increase Z or decrease the diameters"
            )
        volume = box_xy * box_xy * self.Z  # [nm^3]
        n_anions = int(self.c * AVOGADRO_NM3 * volume)
        if n_anions % self.p:  # round up so the salt is neutral (as the group's code does)
            n_anions += self.p - n_anions % self.p
        n_cations = abs(self.n) * n_anions // self.p
        if n_anions == 0:
            raise ConfigurationError(f"c = {self.c} M in {volume:.1f} nm^3 gives no ions; raise c or box_xy")
        wall_charge = 0.0
        n_counter = 0
        if self.i != 0:
            wall_charge = self.i * (box_xy * 1e-9) ** 2 / ELEMENTARY_CHARGE  # per wall [e]
            n_counter = 2 * int(abs(wall_charge))
            if n_counter == 0:
                raise ConfigurationError(
                    f"i = {self.i} C/m^2 over {box_xy} nm x {box_xy} nm is less than one elementary "
                    "charge per wall; raise |i| or box_xy, or use i = 0"
                )
            wall_charge = -n_counter / 2  # adjusted so that counterions neutralise it exactly
        setup = ElectrolyteSetup(
            electrolyte=self,
            sigma_nm=sigma,
            box=(box_xy / sigma, box_xy / sigma, self.slab_factor * self.Z / sigma),
            channel=self.Z / sigma,
            counts={"P": n_cations, "N": n_anions, "C": n_counter},
            valency={"P": self.p, "N": self.n, "C": 1, "S": 0.0},
            diameter={"P": self.d / sigma, "N": self.a / sigma, "C": self.d / sigma},
            charge_unit=math.sqrt(self.bjerrum / sigma),
            mesh=mesh if n_counter and self.walls == "mesh" else 0,
            mesh_valency=(wall_charge / mesh**2) if n_counter and self.walls == "mesh" else 0.0,
            wall_valency=wall_charge,
        )
        setup.check_neutral()
        return setup


@dataclass(frozen=True)
class ElectrolyteSetup:
    """One simulation of an `Electrolyte`, in reduced units (length: ``sigma_nm`` nm; energy: kT).

    Attributes:
        electrolyte: The physical inputs.
        sigma_nm: Unit of length [nm].
        box: (Lx, Ly, Lz) of the periodic box, Lz including the vacuum padding.
        channel: Wall-to-wall distance; the walls are at z = +- channel/2.
        counts: Number of ions per type: ``P`` cations, ``N`` anions, ``C`` counterions.
        valency: Valency per type (``S``: wall mesh points, see ``mesh_valency``).
        diameter: Diameter per ion type.
        charge_unit: Reduced charge of a monovalent ion, sqrt(l_B / sigma).
        mesh: Mesh points per side of each charged wall (0: uncharged walls).
        mesh_valency: Charge of one mesh point [e].
        wall_valency: Charge of each wall [e] (a uniform sheet unless ``mesh``).
    """

    electrolyte: Electrolyte
    sigma_nm: float
    box: tuple[float, float, float]
    channel: float
    counts: dict[str, int]
    valency: dict[str, float]
    diameter: dict[str, float]
    charge_unit: float
    mesh: int
    mesh_valency: float
    wall_valency: float = 0.0
    ion_types: tuple[str, ...] = field(default=("P", "N", "C"))

    @property
    def types(self) -> list[str]:
        """list[str]: HOOMD particle types: ions, then ``S`` for wall mesh points if any."""
        return [*self.ion_types, "S"] if self.mesh else list(self.ion_types)

    @property
    def n_ions(self) -> int:
        """int: Number of mobile ions."""
        return sum(self.counts.values())

    @property
    def n_mesh(self) -> int:
        """int: Number of wall mesh points (both walls)."""
        return 2 * self.mesh * self.mesh

    def check_neutral(self) -> None:
        """Raise `ConfigurationError` unless ions and walls carry zero net charge."""
        total = sum(self.counts[t] * self.valency[t] for t in self.ion_types) + 2 * self.wall_valency
        if abs(total) > 1e-9 * max(1, self.n_ions):
            raise ConfigurationError(
                f"the system carries a net charge of {total:+.6g} e; valencies p = {self.electrolyte.p}, "
                f"n = {self.electrolyte.n} and the wall charge cannot be neutralised with these counts"
            )

    def ion_positions(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Place the ions without overlap on a cubic lattice inside the channel.

        The lattice spacing is the larger diameter, so no two ions overlap and no ion
        overlaps a wall; the occupied sites are chosen at random.

        Returns:
            ``(positions (N, 3), type names (N,))``, cations first, then anions, then
            counterions.

        Raises:
            ConfigurationError: When the ions do not fit in the channel.
        """
        spacing = max(self.diameter.values())
        lx, ly = self.box[0], self.box[1]
        nx, ny = int(lx // spacing), int(ly // spacing)
        nz = int((self.channel - spacing) // spacing) + 1
        sites = nx * ny * nz
        if sites < self.n_ions:
            raise ConfigurationError(
                f"{self.n_ions} ions do not fit in the channel ({sites} non-overlapping sites of "
                f"{spacing * self.sigma_nm:.3f} nm); lower the concentration or widen the channel"
            )
        chosen = rng.choice(sites, size=self.n_ions, replace=False)
        ix, rest = np.divmod(chosen, ny * nz)
        iy, iz = np.divmod(rest, nz)
        positions = np.column_stack(
            [
                -lx / 2 + spacing * (ix + 0.5),
                -ly / 2 + spacing * (iy + 0.5),
                -self.channel / 2 + spacing * (iz + 0.5),
            ]
        )
        names = np.repeat(list(self.ion_types), [self.counts[t] for t in self.ion_types])
        return positions, names

    def mesh_positions(self) -> np.ndarray:
        """(2 mesh^2, 3) positions of the wall mesh points, left wall then right wall."""
        if not self.mesh:
            return np.zeros((0, 3))
        width = self.box[0] / self.mesh
        grid = -self.box[0] / 2 + width * (np.arange(self.mesh) + 0.5)
        gx, gy = np.meshgrid(grid, grid, indexing="ij")
        plane = np.column_stack([gx.ravel(), gy.ravel()])
        half = self.channel / 2
        return np.vstack(
            [
                np.column_stack([plane, np.full(len(plane), -half)]),
                np.column_stack([plane, np.full(len(plane), half)]),
            ]
        )

    def charge(self, type_name: str) -> float:
        """Reduced charge of a particle of ``type_name``."""
        if type_name == "S":
            return self.mesh_valency * self.charge_unit
        return self.valency[type_name] * self.charge_unit

    def molar(self, per_volume: np.ndarray) -> np.ndarray:
        """Convert number densities [1/sigma^3] to molar concentrations [M]."""
        return np.asarray(per_volume) / self.sigma_nm**3 / AVOGADRO_NM3

    def summary(self) -> dict:
        """Counts and sizes, for logs and job results."""
        return {
            "cations": self.counts["P"],
            "anions": self.counts["N"],
            "counterions": self.counts["C"],
            "mesh_points": self.n_mesh,
            "box_nm": [b * self.sigma_nm for b in self.box],
            "unit_length_nm": self.sigma_nm,
            "wall_charge_density": self.wall_valency
            * ELEMENTARY_CHARGE
            / (self.box[0] * self.sigma_nm * 1e-9) ** 2,
            "walls": self.electrolyte.walls,
        }
