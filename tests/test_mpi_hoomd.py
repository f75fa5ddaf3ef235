"""TensorFlowForce under mpirun: refused (not silently wrong) until domain decomposition is supported."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.hoomd

SCRIPT = textwrap.dedent(
    """
    import hoomd, numpy as np, gsd.hoomd
    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.coupling import LennardJones
    from hoomd_mlx.errors import ConfigurationError

    device = hoomd.device.CPU()
    sim = hoomd.Simulation(device=device, seed=1)
    frame = gsd.hoomd.Frame()
    n = 8
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frame.particles.N = n**3
    frame.particles.position = (grid + 0.5) * 1.5 - n * 0.75
    frame.particles.types = ["A"]
    frame.configuration.box = [n * 1.5] * 3 + [0, 0, 0]
    sim.create_state_from_snapshot(frame)
    force = TensorFlowForce(
        LennardJones({("A", "A"): dict(epsilon=1, sigma=1)}, ["A"]),
        nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5,
    )
    sim.operations.integrator = hoomd.md.Integrator(dt=0.005, forces=[force])
    try:
        sim.run(1)
    except ConfigurationError as err:
        print(f"rank {device.communicator.rank}: refused: {err}", flush=True)
    """
)


def _mpirun():
    import hoomd

    if not hoomd.version.mpi_enabled:
        pytest.skip("this HOOMD-blue build has no MPI")
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed (Debian: openmpi-bin)")
    return mpirun


def test_two_ranks_are_refused_with_the_fix(tmp_path):
    mpirun = _mpirun()
    script = tmp_path / "two_ranks.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(
        [mpirun, "--oversubscribe", "-n", "2", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for rank in (0, 1):
        assert f"rank {rank}: refused" in out, out
    assert "2 ranks" in out
    assert "run it on one rank" in out
