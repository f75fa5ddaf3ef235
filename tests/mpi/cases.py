"""Force evaluations on a fixed configuration, on however many ranks this runs on (``mpirun -n R``).

``python3 cases.py OUT.npz CASE [CASE ...]``: for each case, build the same system,
attach the forces, ``run(0)`` with virials, and save on rank 0 (HOOMD gathers
per-particle arrays in tag order) forces, energies, virials, total energy and
pressure-tensor sums of our force and, where there is one, of native HOOMD's.
"""

import sys

import gsd.hoomd
import hoomd
import numpy as np
import tensorflow as tf

from hoomd_mlx import TensorFlowForce
from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.errors import ConfigurationError

PARAMS = {
    ("A", "A"): {"epsilon": 1.0, "sigma": 1.0},
    ("A", "B"): {"epsilon": 0.8, "sigma": 1.1},
    ("B", "B"): {"epsilon": 1.2, "sigma": 1.2},
}
R_CUT = {("A", "A"): 2.5, ("A", "B"): 2.8, ("B", "B"): 3.0}


class LocalDensity(tf.Module):
    """An embedding energy of each particle's local density: ``E_i = -sqrt(rho_i)``.

    ``rho_i = sum_j (1 - r_ij^2 / r_c^2)^2`` over neighbors within ``r_c``: the energy of
    one particle depends on its neighbors, its force on neighbors of neighbors.
    """

    cutoff = 2.0

    def __call__(self, inputs):
        r2 = tf.reduce_sum(inputs.r_neighbors**2, axis=-1)
        w = tf.where(inputs.neighbor_mask, (1.0 - r2 / self.cutoff**2) ** 2, tf.zeros((), r2.dtype))
        rho = tf.reduce_sum(w, axis=1)
        energy = -tf.sqrt(rho + 0.1) * (1.0 + 0.1 * tf.cast(inputs.types[: tf.shape(rho)[0]], rho.dtype))
        rows = tf.shape(inputs.positions)[0] - tf.shape(energy)[0]
        return tf.pad(energy, [[0, rows]])


class TableLJ(tf.Module):
    """LJ as a local model (kind="local"): half of each neighbor's pair energy on the row."""

    def __init__(self):
        super().__init__()
        self.lj = LennardJones(PARAMS, ["A", "B"])

    def __call__(self, r, type_i, type_k, mask):
        rows, width = tf.shape(r)[0], tf.shape(r)[1]
        e = self.lj(tf.reshape(r, [-1, 3]), tf.repeat(type_i, width), tf.reshape(type_k, [-1]))
        return 0.5 * tf.reduce_sum(
            tf.where(mask, tf.reshape(e, [rows, width]), tf.zeros((), e.dtype)), axis=1
        )


class ThreeBody(tf.Module):
    """A local three-body term (kind="local"): smooth weights of neighbor pairs times (cos + 1/3)^2."""

    cutoff = 2.0

    def __call__(self, r, type_i, type_k, mask):
        norm = tf.sqrt(tf.reduce_sum(r * r, axis=-1))
        smooth = tf.where(mask, (1.0 - norm / self.cutoff) ** 2, tf.zeros((), r.dtype))
        unit = r / norm[..., None]
        cos = tf.einsum("rkc,rlc->rkl", unit, unit)
        weight = (
            smooth[:, :, None] * smooth[:, None, :] * (1.0 + 0.3 * tf.cast(type_i, r.dtype))[:, None, None]
        )
        return 0.1 * tf.reduce_sum(weight * (cos + 1.0 / 3.0) ** 2, axis=[1, 2])


class NoRange(tf.Module):
    def __call__(self, inputs):
        return 0.0 * inputs.positions[:, 0]


class GlobalDipole(tf.Module):
    """Every particle's energy depends on the total z dipole (a sum over every rank), as a slab's does.

    Only z: along a decomposed direction HOOMD wraps a particle that leaves the box
    when it next migrates particles, not at once, so a term of absolute positions
    belongs to a direction the domains do not split (the tests split x and y).
    """

    cutoff = 0.0

    def __call__(self, inputs):
        q = inputs.charges
        z = inputs.positions[:, 2]
        m = inputs.total(q * z)
        q_total = inputs.total(q)
        return 0.01 * q * z * m + 0.001 * q_total * q * z**2


class ScreenedCharges(tf.Module):
    """Charges screened within ``cutoff`` (ghost charges matter), plus a total over ranks in the same step.

    Returns one energy per neighbor-table row (fewer rows than positions under MPI).
    """

    cutoff = 2.0

    def __call__(self, inputs):
        rows = tf.shape(inputs.neighbors)[0]
        q = inputs.charges
        r2 = tf.reduce_sum(inputs.r_neighbors**2, axis=-1)
        qq = q[:rows, None] * tf.gather(q, inputs.neighbors)
        shift = tf.exp(tf.constant(-(self.cutoff**2), r2.dtype))
        pair = tf.where(inputs.neighbor_mask, qq * (tf.exp(-r2) - shift), tf.zeros((), r2.dtype))
        dipole = inputs.total(q * inputs.positions[:, 2])
        return 0.5 * tf.reduce_sum(pair, axis=1) + 0.001 * dipole * q[:rows] * inputs.positions[:rows, 2]


def frame(side=14, spacing=1.1, tilts=(0.0, 0.0, 0.0), seed=5):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    length = side * spacing
    f = gsd.hoomd.Frame()
    f.particles.N = side**3
    pos = (grid + 0.5) * spacing - length / 2 + rng.normal(0, 0.05, grid.shape)
    xy, xz, yz = tilts
    pos[:, 0] += xy * pos[:, 1] + xz * pos[:, 2]
    pos[:, 1] += yz * pos[:, 2]
    f.particles.position = pos
    f.particles.typeid = rng.permutation(np.arange(side**3) % 2)
    f.particles.types = ["A", "B"]
    f.particles.charge = rng.choice([-1.0, 1.0], side**3)
    f.configuration.box = [length] * 3 + list(tilts)
    return f


def native_lj(nlist):
    lj = hoomd.md.pair.LJ(nlist=nlist)
    for pair, values in PARAMS.items():
        lj.params[pair] = values
        lj.r_cut[pair] = R_CUT[pair]
    return lj


def build(case, decomposition):
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=1)
    tilts = (0.2, -0.1, 0.15) if case == "triclinic" else (0.0, 0.0, 0.0)
    side = 16 if case == "thin" else 14
    sim.create_state_from_snapshot(frame(side=side, tilts=tilts), domain_decomposition=decomposition)
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    native = None
    if case in ("pairs", "full", "triclinic"):
        native = native_lj(hoomd.md.nlist.Cell(buffer=0.4))
        ours = TensorFlowForce(LennardJones(PARAMS, ["A", "B"]), nlist=nlist, r_cut=R_CUT)
    elif case == "shared":  # one list for both, in the half storage HOOMD's own LJ asks for
        native = native_lj(nlist)
        ours = TensorFlowForce(LennardJones(PARAMS, ["A", "B"]), nlist=nlist, r_cut=R_CUT)
    elif case == "local-lj":  # LJ as a local model: against native LJ too
        native = native_lj(hoomd.md.nlist.Cell(buffer=0.4))
        ours = TensorFlowForce(TableLJ(), nlist=nlist, r_cut=R_CUT, kind="local")
    elif case == "three-body":
        ours = TensorFlowForce(ThreeBody(), nlist=nlist, r_cut=2.0, kind="local")
    elif case == "descriptor":  # the built-in many-body ML potential, the same weights on every rank
        import keras

        from hoomd_mlx.coupling import DescriptorPotential

        keras.utils.set_random_seed(7)
        model = DescriptorPotential(
            ["A", "B"], cutoff=2.0, embedding=(8, 16), fitting=(16, 16), dtype="float64"
        )
        model.build()
        model.set_weights([3 * w for w in model.get_weights()])
        ours = TensorFlowForce(model, nlist=nlist, r_cut=2.0, kind="local")
    elif case == "density":
        ours = TensorFlowForce(LocalDensity(), nlist=nlist, r_cut=2.0, kind="many-body")
    elif case == "charged":  # one energy per table row: the force pads them
        ours = TensorFlowForce(ScreenedCharges(), nlist=nlist, r_cut=2.0, kind="many-body")
    elif case == "dipole":
        ours = TensorFlowForce(GlobalDipole(), kind="many-body")
    elif case == "norange":
        ours = TensorFlowForce(NoRange(), kind="many-body")
    elif case == "thin":
        model = LocalDensity()
        model.cutoff = 3.0
        ours = TensorFlowForce(model, nlist=nlist, r_cut=3.0, kind="many-body")
    else:
        raise SystemExit(f"unknown case {case}")
    forces = [ours] + ([native] if native is not None else [])
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All())
    sim.operations.integrator = hoomd.md.Integrator(dt=0.002, forces=forces, methods=[method])
    sim.always_compute_pressure = True
    if case == "full":  # full storage (as a force sharing the list might ask): each pair from both rows
        from hoomd_mlx.plugin import _compat

        sim.run(0)
        _compat.set_nlist_storage(nlist, half=False)
    return sim, ours, native


def main():
    out, cases = sys.argv[1], sys.argv[2:]
    comm = hoomd.communicator.Communicator()
    decomposition = {1: (None, None, None), 2: (2, 1, 1), 4: (2, 2, 1)}[comm.num_ranks]
    if "thin" in cases:
        decomposition = (comm.num_ranks, 1, 1) if comm.num_ranks > 1 else decomposition
    saved = {"ranks": comm.num_ranks}
    for case in cases:
        sim, ours, native = build(case, decomposition)
        try:
            sim.run(0)
        except ConfigurationError as err:
            saved[f"{case}/refused"] = str(err)
            continue
        for name, force in (("ours", ours), ("native", native)):
            if force is None:
                continue
            arrays = {"forces": force.forces, "energies": force.energies, "virials": force.virials}
            totals = {"energy": force.energy}
            if comm.rank == 0:
                for key, value in {**arrays, **totals}.items():
                    saved[f"{case}/{name}/{key}"] = np.asarray(value)
        saved[f"{case}/pair_count"] = ours.pair_count if ours.nlist is not None else 0
        saved[f"{case}/domains"] = np.asarray(sim.state.domain_decomposition)
    if comm.rank == 0:
        np.savez(out, **saved)


if __name__ == "__main__":
    main()
