"""TensorFlowForce under HOOMD-blue's MPI domain decomposition: 2 and 4 ranks against one rank and native.

Each test starts ``mpirun -n R`` (or one plain process) on a script in ``tests/mpi/``
and compares on rank 0, where HOOMD gathers per-particle arrays in tag order:

* ``cases.py``: forces, energies and virials on a fixed configuration -- LJ as a pair
  model (a two-type mixture with per-type-pair cutoffs) from half and full lists, a
  triclinic box, a list shared with native LJ, LJ, a three-body term and the built-in
  many-body ML potential (`DescriptorPotential`) as local models (forces on ghosts are
  sent home), a local-density many-body model (forces
  reach neighbors of neighbors), a model of the total dipole (sums over ranks inside
  the step), the refusals;
* ``dynamics.py``: 150 steps through migrations and neighbor-list rebuilds;
* ``nve.py``: energy conservation over 10^4 steps;
* ``electrolyte.py``: the confined electrolyte's slab correction and profiles.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.hoomd, pytest.mark.mpi, pytest.mark.slow]

SCRIPTS = Path(__file__).parent / "mpi"
CASES = [
    "pairs",
    "full",
    "triclinic",
    "shared",
    "local-lj",
    "three-body",
    "descriptor",
    "density",
    "charged",
    "dipole",
    "norange",
]
PAIR_CASES = ["pairs", "full", "triclinic", "shared", "local-lj"]


def _run(tmp_path, script, ranks, *args):
    out = tmp_path / f"{Path(script).stem}-{'-'.join(args)}-{ranks}.npz"
    command = [sys.executable, str(SCRIPTS / script), str(out), *args]
    if ranks > 1:
        command = [shutil.which("mpirun"), "--oversubscribe", "-n", str(ranks), *command]
    env = dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return dict(np.load(out))


def _close(a, b, rtol):
    """Equal to ``rtol`` relative to the largest magnitude (per-particle arrays hold zeros)."""
    scale = max(np.abs(a).max(), 1e-300)
    np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * scale)


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("one"), "cases.py", 1, *CASES)


@pytest.mark.parametrize("ranks", [2, 4])
def test_fixed_configuration_matches_one_rank_and_native(tmp_path, one_rank, ranks):
    many = _run(tmp_path, "cases.py", ranks, *CASES)
    assert int(many["ranks"]) == ranks
    for case in CASES[:-1]:
        assert np.prod(many[f"{case}/domains"]) == ranks, case
        for who in ("ours", "native") if case in PAIR_CASES else ("ours",):
            for key in ("forces", "energies", "virials"):
                _close(one_rank[f"{case}/{who}/{key}"], many[f"{case}/{who}/{key}"], 1e-10)
            _close(one_rank[f"{case}/{who}/energy"], many[f"{case}/{who}/energy"], 1e-10)
            _close(one_rank[f"{case}/{who}/virials"].sum(0), many[f"{case}/{who}/virials"].sum(0), 1e-10)
        if case in PAIR_CASES:  # and against HOOMD's own LJ on the same ranks
            for key in ("forces", "energies", "virials"):
                _close(many[f"{case}/native/{key}"], many[f"{case}/ours/{key}"], 1e-10)
        assert int(many[f"{case}/pair_count"]) == int(one_rank[f"{case}/pair_count"]), case
    assert np.abs(many["density/ours/forces"]).max() > 0.1  # the many-body forces are not trivial
    assert np.abs(many["three-body/ours/forces"]).max() > 0.1
    assert np.abs(many["descriptor/ours/forces"]).max() > 0.1
    assert int(one_rank["pairs/pair_count"]) > 100_000
    assert "norange/refused" not in one_rank  # one rank needs no declared range
    message = str(many["norange/refused"])
    assert "declares no range" in message
    assert "attribute `cutoff`" in message


def test_domains_too_thin_for_the_declared_range_are_refused(tmp_path):
    out = _run(tmp_path, "cases.py", 4, "thin")
    message = str(out["thin/refused"])
    assert "4.4 thick along x (4 domains)" in message
    assert "ghost particles out to 3.4 (r_cut 3 + nlist buffer 0.4)" in message
    assert "Run on fewer ranks" in message


@pytest.mark.parametrize("kind", ["pair", "local", "many-body"])
def test_dynamics_on_two_ranks_match_one_rank(tmp_path, kind):
    two = _run(tmp_path, "dynamics.py", 2, kind)
    assert int(two["domains"]) == 2
    assert int(two["builds"]) > 3, "no neighbor-list rebuilds (and migrations) were exercised"
    one = _run(tmp_path, "dynamics.py", 1, kind)
    np.testing.assert_allclose(two["positions"], one["positions"], atol=1e-8)
    forces = [k.split("/")[0] for k in two if k.endswith("/forces") and not k.startswith("native")]
    for k in forces:
        _close(one[f"{k}/forces"], two[f"{k}/forces"], 1e-8)
        _close(one[f"{k}/energy"], two[f"{k}/energy"], 1e-8)
    if kind == "pair":
        for key in ("forces", "energies", "virials"):
            _close(two["native/" + key], two["0/" + key], 1e-10)
        assert float(two["0/energy"]) == pytest.approx(float(two["native_energy"]), rel=1e-10)


def test_nve_energy_conservation_on_two_ranks_as_on_one(tmp_path):
    one = _run(tmp_path, "nve.py", 1, "10000")
    two = _run(tmp_path, "nve.py", 2, "10000")

    def error(run):
        e = run["energy"]
        return np.sqrt(np.mean((e - e[0]) ** 2)), np.abs(e - e[0]).max()

    (rms_1, max_1), (rms_2, max_2) = error(one), error(two)
    assert rms_1 < 1e-4 * abs(one["energy"][0])  # the smooth potential conserves energy at all
    assert rms_2 <= 1.5 * rms_1, (rms_1, rms_2)
    assert max_2 <= 1.5 * max_1, (max_1, max_2)


def test_electrolyte_on_two_ranks(tmp_path):
    """The slab correction (a total over every rank) on 2 ranks: same forces, same profiles."""
    from hoomd_mlx.electrolyte.profiles import fraction_within

    one = _run(tmp_path, "electrolyte.py", 1, "5000")
    two = _run(tmp_path, "electrolyte.py", 2, "5000")
    assert np.prod(two["domains"]) == 2
    _close(one["slab/forces"], two["slab/forces"], 1e-10)
    _close(one["slab/energy"], two["slab/energy"], 1e-10)
    for name in ("wca", "walls", "ewald"):
        _close(one[f"{name}/forces"], two[f"{name}/forces"], 1e-10)
    # HOOMD's distributed PPPM sums its mesh in another order: 2e-7 here, its own difference.
    _close(one["pppm/forces"], two["pppm/forces"], 1e-5)
    for sign in ("pos", "neg"):
        within = fraction_within(
            two[f"profile/rho_{sign}"],
            two[f"profile/err_{sign}"],
            one[f"profile/rho_{sign}"],
            one[f"profile/err_{sign}"],
            sigmas=2.0,
        )
        assert within >= 0.85, (sign, within)


def test_electrolyte_forces_on_four_ranks(tmp_path):
    one = _run(tmp_path, "electrolyte.py", 1, "0")
    four = _run(tmp_path, "electrolyte.py", 4, "0")
    assert list(four["domains"]) == [2, 2, 1]
    _close(one["slab/forces"], four["slab/forces"], 1e-10)
    _close(one["slab/energy"], four["slab/energy"], 1e-10)
