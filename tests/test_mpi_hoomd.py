"""TensorFlowForce under HOOMD-blue's MPI domain decomposition: two ranks against native and one rank.

Each test starts ``mpirun -n 2`` (or one plain process) on a script that runs the
force beside HOOMD's own LJ through particle migrations and neighbor-list rebuilds,
and compares on rank 0, where HOOMD gathers per-particle arrays by tag.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = [pytest.mark.hoomd, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, hoomd, gsd.hoomd
    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.coupling import LennardJones
    from hoomd_mlx.errors import ConfigurationError
    from hoomd_mlx.plugin import ManyBodyInputs

    PARAMS = {
        ("A", "A"): {"epsilon": 1.0, "sigma": 1.0},
        ("A", "B"): {"epsilon": 0.8, "sigma": 1.1},
        ("B", "B"): {"epsilon": 1.2, "sigma": 1.2},
    }
    kind, layout, out = sys.argv[1], sys.argv[2], sys.argv[3]
    device = hoomd.device.CPU()
    rng = np.random.default_rng(5)
    side, spacing = 12, 1.1
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frame = gsd.hoomd.Frame()
    frame.particles.N = side**3
    frame.particles.position = (grid + 0.5) * spacing - side * spacing / 2 + rng.normal(0, 0.05, grid.shape)
    frame.particles.typeid = rng.permutation(np.arange(side**3) % 2)
    frame.particles.types = ["A", "B"]
    frame.configuration.box = [side * spacing] * 3 + [0.0, 0.0, 0.0]
    sim = hoomd.Simulation(device=device, seed=1)
    sim.create_state_from_snapshot(frame)
    native = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4), default_r_cut=2.5)
    for pair, values in PARAMS.items():
        native.params[pair] = values
    if kind == "many-body":
        ours = TensorFlowForce(lambda inputs: 0.0 * inputs.positions[:, 0], many_body=True)
    else:
        model = LennardJones(PARAMS, ["A", "B"])
        ours = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5, layout=layout)
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All())
    sim.operations.integrator = hoomd.md.Integrator(dt=0.002, forces=[native, ours], methods=[method])
    sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.5)
    try:
        sim.run(0)
    except ConfigurationError as err:
        print(f"rank {device.communicator.rank}: refused: {err}", flush=True)
        sys.exit(0)
    sim.always_compute_pressure = True
    sim.run(150)
    arrays = dict(
        forces=ours.forces, native_forces=native.forces, energies=ours.energies,
        native_energies=native.energies, virials=ours.virials, native_virials=native.virials,
    )
    energy, native_energy = ours.energy, native.energy  # reduced over ranks: every rank calls
    snapshot = sim.state.get_snapshot()
    if device.communicator.rank == 0:
        np.savez(
            out, positions=snapshot.particles.position, energy=energy, native_energy=native_energy,
            ranks=device.communicator.num_ranks, domains=np.prod(sim.state.domain_decomposition),
            builds=ours.pair_builds, **arrays,
        )
    """
)


def _run(tmp_path, ranks, kind="pair", layout="dense"):
    import hoomd

    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"{kind}-{layout}-{ranks}.npz"
    command = [sys.executable, str(script), kind, layout, str(out)]
    if ranks > 1:
        if not hoomd.version.mpi_enabled:
            pytest.skip("this HOOMD-blue build has no MPI")
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            pytest.skip("mpirun is not installed (Debian: openmpi-bin)")
        command = [mpirun, "--oversubscribe", "-n", str(ranks), *command]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return (dict(np.load(out)) if out.exists() else None), log


@pytest.mark.parametrize("layout", ["dense", "pairs"])
def test_pair_model_on_two_ranks_matches_native_and_one_rank(tmp_path, layout):
    two, _ = _run(tmp_path, 2, layout=layout)
    assert int(two["ranks"]) == 2
    assert int(two["domains"]) == 2
    assert int(two["builds"]) > 3, "no neighbor-list rebuilds (and migrations) were exercised"
    scale = np.abs(two["native_forces"]).max()
    np.testing.assert_allclose(two["forces"], two["native_forces"], rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(two["energies"], two["native_energies"], rtol=1e-10, atol=1e-12)
    w_scale = np.abs(two["native_virials"]).max()
    np.testing.assert_allclose(two["virials"], two["native_virials"], rtol=1e-10, atol=1e-10 * w_scale)
    assert float(two["energy"]) == pytest.approx(float(two["native_energy"]), rel=1e-10)
    one, _ = _run(tmp_path, 1, layout=layout)
    np.testing.assert_allclose(two["positions"], one["positions"], atol=1e-8)
    np.testing.assert_allclose(two["forces"], one["forces"], rtol=1e-8, atol=1e-8 * scale)


def test_many_body_model_on_two_ranks_is_refused_with_the_fix(tmp_path):
    _, log = _run(tmp_path, 2, kind="many-body")
    for rank in (0, 1):
        assert f"rank {rank}: refused" in log, log[-4000:]
    assert "many-body model does not support MPI domain decomposition yet" in log
    assert "Run it on one rank" in log
