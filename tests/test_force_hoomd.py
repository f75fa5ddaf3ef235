"""TensorFlowForce inside real HOOMD-blue simulations, against HOOMD's own LJ."""

import numpy as np
import pytest
import tensorflow as tf
from systems import LJ_PARAMS, lattice_config

from hoomd_mlx.coupling import LennardJones
from hoomd_mlx.errors import ConfigurationError, ModelOutputError, NonFiniteForceError

pytestmark = pytest.mark.hoomd

R_CUT = 2.5
TYPES = ["A", "B"]


@pytest.fixture
def hoomd():
    import hoomd

    return hoomd


def make_simulation(hoomd, pos, types, box, seed=1):
    import gsd.hoomd

    frame = gsd.hoomd.Frame()
    frame.particles.N = len(pos)
    frame.particles.position = pos
    frame.particles.typeid = types
    frame.particles.types = TYPES
    frame.configuration.box = list(box)
    sim = hoomd.Simulation(device=hoomd.device.CPU(), seed=seed)
    sim.create_state_from_snapshot(frame)
    return sim


def native_lj(hoomd, nlist, mode="none"):
    lj = hoomd.md.pair.LJ(nlist=nlist, default_r_cut=R_CUT, mode=mode)
    for pair, params in LJ_PARAMS.items():
        lj.params[pair] = params
    return lj


def tf_force(hoomd, mode="none", dtype=tf.float64, **kwargs):
    from hoomd_mlx import TensorFlowForce

    model = LennardJones(LJ_PARAMS, TYPES, r_cut=R_CUT, mode=mode, dtype=dtype)
    return TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT, **kwargs)


def integrate(hoomd, sim, forces, dt=0.005, kT=None):
    integrator = hoomd.md.Integrator(dt=dt)
    integrator.forces.extend(forces)
    integrator.methods.append(hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All()))
    sim.operations.integrator = integrator
    thermo = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
    sim.operations.computes.append(thermo)
    if kT is not None:
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=kT)
    return thermo


@pytest.mark.parametrize("tilts", [(0.0, 0.0, 0.0), (0.2, -0.1, 0.15)], ids=["cubic", "triclinic"])
def test_matches_native_lj(hoomd, rng, tilts):
    pos, types, box = lattice_config(rng, n_side=7, box_tilts=tilts)
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = tf_force(hoomd)
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    sim.always_compute_pressure = True
    sim.run(1)
    assert np.abs(native.virials).max() > 0, "HOOMD computed no virials: the check would be empty"
    np.testing.assert_allclose(
        ours.forces, native.forces, rtol=1e-10, atol=1e-10 * np.abs(native.forces).max()
    )
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-10, atol=1e-12)
    assert ours.energy == pytest.approx(native.energy, rel=1e-10)
    np.testing.assert_allclose(
        ours.virials, native.virials, rtol=1e-10, atol=1e-10 * np.abs(native.virials).max()
    )
    np.testing.assert_allclose(ours.virials.sum(0), native.virials.sum(0), rtol=1e-10, atol=1e-9)


def _pressure_log(hoomd, sim, thermo, every):
    import io

    logger = hoomd.logging.Logger(categories=["scalar"])
    logger.add(thermo, quantities=["pressure"])
    out = io.StringIO()
    sim.operations.writers.append(hoomd.write.Table(trigger=every, logger=logger, output=out))
    return out


def test_virial_on_the_steps_hoomd_asks_for_it(hoomd, rng):
    """Pressure logged every 10 steps matches native; virials are computed only then."""
    pos, types, box = _fluid(hoomd, rng, n_side=6)
    logs, forces = [], []
    for factory in (lambda: native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4)), lambda: tf_force(hoomd)):
        sim = make_simulation(hoomd, pos, types, box)
        force = factory()
        thermo = integrate(hoomd, sim, [force], dt=0.002)
        out = _pressure_log(hoomd, sim, thermo, 10)
        sim.run(100)
        logs.append(np.loadtxt(out.getvalue().splitlines()[1:]))
        forces.append(force)
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-7)
    assert np.abs(logs[0]).max() > 0
    stats = forces[1]._engine.stats
    assert stats.steps == 101
    assert stats.virial_steps <= 12  # the 10 logged steps (and at most the first)


def test_npt_follows_native(hoomd, rng):
    """MTK barostat needs the virial every step: box and positions track native LJ."""
    pos, types, box = _fluid(hoomd, rng, n_side=6)
    volumes = []
    for factory in (
        lambda: native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4)),
        lambda: tf_force(hoomd),
    ):
        sim = make_simulation(hoomd, pos, types, box)
        integrator = hoomd.md.Integrator(dt=0.002, forces=[factory()])
        integrator.methods.append(
            hoomd.md.methods.ConstantPressure(
                filter=hoomd.filter.All(),
                tauS=1.0,
                S=2.0,
                couple="xyz",
                thermostat=hoomd.md.methods.thermostats.MTTK(kT=1.0, tau=0.5),
            )
        )
        sim.operations.integrator = integrator
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.0)
        # run(0) first: native HOOMD's own trajectory differs by ~0.1% depending on whether
        # the integrator was prepared by an earlier run (seen with md.pair.LJ alone).
        sim.run(0)
        sim.run(200)
        volumes.append(sim.state.box.volume)
    assert volumes[0] != pytest.approx(box[0] ** 3, rel=1e-3), "the barostat did not act"
    assert volumes[1] == pytest.approx(volumes[0], rel=1e-8)


def test_float32_model_close_to_native(hoomd, rng):
    """Forces within 1e-5 of the largest force, in a box as large as N = 32768 at rho 0.8."""
    pos, types, box = lattice_config(rng, n_side=6, spacing=1.08)
    pos += 12.0  # far from the origin, where float32 positions are coarsest (box 35 wide)
    box[:3] = 35.0
    sim = make_simulation(hoomd, (pos + 17.5) % 35.0 - 17.5, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = tf_force(hoomd, dtype=tf.float32)
    assert ours.dtype == tf.float32
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    sim.always_compute_pressure = True
    sim.run(1)
    scale = np.abs(native.forces).max()
    assert scale > 1, "no close pairs: the check would be weak"
    np.testing.assert_allclose(ours.forces, native.forces, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(
        ours.energies, native.energies, rtol=0, atol=1e-5 * np.abs(native.energies).max()
    )
    w_scale = np.abs(native.virials).max()
    np.testing.assert_allclose(ours.virials, native.virials, rtol=0, atol=1e-5 * w_scale)


@pytest.mark.parametrize("storage", ["half", "full"])
@pytest.mark.parametrize("native_first", [True, False], ids=["native-first", "ours-first"])
def test_shared_nlist_with_native_force(hoomd, rng, native_first, storage):
    """A list shared with HOOMD's own LJ, in either storage (a force needing full storage may set it)."""
    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.plugin import _compat

    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    native = native_lj(hoomd, nlist)
    ours = TensorFlowForce(LennardJones(LJ_PARAMS, TYPES), nlist=nlist, r_cut=R_CUT)
    integrate(hoomd, sim, [native, ours] if native_first else [ours, native])
    sim.run(0)
    _compat.set_nlist_storage(nlist, half=storage == "half")
    sim.always_compute_pressure = True
    sim.run(1)
    with nlist.cpu_local_nlist_arrays as arrays:
        assert arrays.half_nlist == (storage == "half")
    np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.virials, native.virials, rtol=1e-10, atol=1e-9)
    # removing our force leaves the shared list attached for HOOMD's own force
    before = native.forces.copy()
    sim.operations.integrator.forces.remove(ours)
    assert nlist._attached
    sim.run(0)
    np.testing.assert_allclose(native.forces, before, rtol=1e-12)


def _fluid(hoomd, rng, n_side=8, kT=1.0):
    pos, types, box = lattice_config(rng, n_side=n_side, spacing=1.35, jitter=0.05)
    return pos, types, box


@pytest.mark.slow
def test_trajectory_follows_native_through_particle_sorts(hoomd, rng):
    """Same start, one run driven by HOOMD's LJ and one by TensorFlow: they coincide.

    The particle sorter runs every 10 steps, so any per-index data cached across a
    sort would send the TensorFlow run off course.
    """
    pos, types, box = _fluid(hoomd, rng)
    finals = []
    for force_factory in (
        lambda: native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4)),
        lambda: tf_force(hoomd),
    ):
        sim = make_simulation(hoomd, pos, types, box)
        sim.operations.tuners[0].trigger = hoomd.trigger.Periodic(10)
        integrate(hoomd, sim, [force_factory()], dt=0.002)
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.0)
        sim.run(300)
        finals.append(sim.state.get_snapshot().particles.position.copy())
    np.testing.assert_allclose(finals[1], finals[0], atol=1e-7)


def _drift(hoomd, pos, types, box, force, steps):
    sim = make_simulation(hoomd, pos, types, box, seed=7)
    thermo = integrate(hoomd, sim, [force], dt=0.005, kT=1.2)
    sim.run(0)
    e0 = thermo.kinetic_energy + thermo.potential_energy
    deviations = []
    for _ in range(steps // 100):
        sim.run(100)
        deviations.append(thermo.kinetic_energy + thermo.potential_energy - e0)
    return np.sqrt(np.mean(np.square(deviations))) / len(pos)


@pytest.mark.slow
def test_nve_energy_drift_within_native(hoomd, rng):
    pos, types, box = _fluid(hoomd, rng, n_side=7)
    steps = 10_000
    native = _drift(hoomd, pos, types, box, native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4), "shift"), steps)
    ours = _drift(hoomd, pos, types, box, tf_force(hoomd, mode="shift"), steps)
    assert ours <= 1.5 * native, f"energy drift per particle: TF {ours:.3g}, native {native:.3g}"


def test_pairs_rebuilt_only_with_nlist(hoomd, rng):
    pos, types, box = _fluid(hoomd, rng)
    sim = make_simulation(hoomd, pos, types, box)
    ours = tf_force(hoomd)
    integrate(hoomd, sim, [ours], kT=1.0)
    sim.run(200)
    builds = ours.nlist.num_builds
    assert 1 <= ours.pair_builds <= builds + 1 < 100


def test_input_path_follows_alignment(hoomd, rng):
    """Positions reach a whole TF step zero-copy exactly when HOOMD's buffer is 64-byte aligned."""
    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.plugin import _compat
    from hoomd_mlx.plugin.buffers import TensorBridge, full_rows

    def field(inputs):  # a many-body model: HOOMD's positions reach TensorFlow itself
        return 0.5 * inputs.positions[:, 2] ** 2

    for n_side in (5, 6, 7, 8, 9):
        pos, types, box = lattice_config(rng, n_side=n_side)
        sim = make_simulation(hoomd, pos, types, box)
        ours = TensorFlowForce(field, kind="many-body")
        integrate(hoomd, sim, [ours])
        sim.run(2)
        with sim.state.cpu_local_snapshot as snap:
            postype = full_rows(_compat.host_array(snap.particles.position), 4)
            aligned = postype.ctypes.data % 64 == 0
            bridge = TensorBridge()
            tensor = bridge(postype)
            before = float(tensor[0, 0])
            snap.particles.position[0, 0] = before + 0.125  # HOOMD writes ...
            # ... a zero-copy tensor sees it, a staged copy does not
            assert float(tensor[0, 0]) == pytest.approx(before + 0.125 if aligned else before)
            del tensor
        assert ours.input_path == ("zero-copy" if aligned else "staged")


def test_per_type_pair_cutoffs_match_native(hoomd, rng):
    """A mixture whose type pairs have different cutoffs (and a list sized by the largest)."""
    from hoomd_mlx import TensorFlowForce

    cutoffs = {("A", "A"): 2.5, ("A", "B"): 2.0, ("B", "B"): 3.0}
    pos, types, box = lattice_config(rng, n_side=7)
    sim = make_simulation(hoomd, pos, types, box)
    native = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4))
    for pair, params in LJ_PARAMS.items():
        native.params[pair] = params
        native.r_cut[pair] = cutoffs[pair]
    ours = TensorFlowForce(
        LennardJones(LJ_PARAMS, TYPES), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=cutoffs
    )
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    sim.always_compute_pressure = True
    sim.run(1)
    np.testing.assert_allclose(
        ours.forces, native.forces, rtol=1e-10, atol=1e-10 * np.abs(native.forces).max()
    )
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        ours.virials, native.virials, rtol=1e-10, atol=1e-10 * np.abs(native.virials).max()
    )


def test_pair_models_run_on_the_split_step(hoomd, rng):
    """On the CPU the kernels do the geometry and the accumulation: the model sees each pair once."""
    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    ours = tf_force(hoomd)
    integrate(hoomd, sim, [ours])
    sim.run(2)
    assert ours.layout == "pairs"
    split = ours._engine.split
    assert split is not None
    assert 0 < split.pairs <= split.capacity < 1.2 * split.pairs + 256


def test_detach_restores_the_lists_cutoffs(hoomd, rng):
    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    nlist = hoomd.md.nlist.Cell(buffer=0.4, default_r_cut=0.5)
    nlist.r_cut[("B", "B")] = 3.0
    from hoomd_mlx import TensorFlowForce

    ours = TensorFlowForce(LennardJones(LJ_PARAMS, TYPES), nlist=nlist, r_cut=R_CUT)
    integrate(hoomd, sim, [ours])
    sim.run(1)
    assert nlist.r_cut[("A", "A")] == R_CUT  # widened while attached
    sim.operations.integrator.forces.remove(ours)
    assert nlist.r_cut[("A", "A")] == 0.5
    assert nlist.r_cut[("A", "B")] == 0.5
    assert nlist.r_cut[("B", "B")] == 3.0  # never narrowed


def test_loggables_reach_table_and_gsd(hoomd, rng, tmp_path):
    import io

    import gsd.hoomd

    pos, types, box = _fluid(hoomd, rng, n_side=5)
    sim = make_simulation(hoomd, pos, types, box)
    ours = tf_force(hoomd)
    integrate(hoomd, sim, [ours])
    logger = hoomd.logging.Logger(categories=["scalar", "string"])
    logger.add(ours, quantities=["model_time", "step_time", "input_path", "layout", "pair_count", "energy"])
    out = io.StringIO()
    sim.operations.writers.append(hoomd.write.Table(trigger=10, logger=logger, output=out))
    gsd_logger = hoomd.logging.Logger(categories=["scalar"])
    gsd_logger.add(ours, quantities=["model_time", "pair_count", "energy"])
    path = tmp_path / "log.gsd"
    sim.operations.writers.append(
        hoomd.write.GSD(
            filename=str(path), trigger=10, mode="wb", filter=hoomd.filter.Null(), logger=gsd_logger
        )
    )
    sim.run(20)
    sim.operations.writers[-1].flush()
    table = out.getvalue()
    assert "model_time" in table
    assert ours.input_path in table
    assert ours.layout in table
    assert ours.step_time >= ours.model_time > 0
    with gsd.hoomd.open(path) as traj:
        key = next(k for k in traj[0].log if k.endswith("model_time"))
        assert traj[-1].log[key][0] > 0


# -- bad input -------------------------------------------------------------------------


def test_pair_model_without_nlist_is_refused(hoomd):
    from hoomd_mlx import TensorFlowForce

    with pytest.raises(ConfigurationError, match="neighbor list"):
        TensorFlowForce(LennardJones(LJ_PARAMS, TYPES), r_cut=R_CUT)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda r, ti, tj: tf.reduce_sum(r, axis=1, keepdims=True), r"shape \(2, 1\)"),
        (lambda r, ti, tj: tf.cast(tf.reduce_sum(r, axis=1), tf.float32), "float32 energies"),
        (lambda r, ti, tj: (tf.reduce_sum(r, axis=1), r), "tuple"),
    ],
    ids=["shape", "dtype", "tuple"],
)
def test_bad_model_output_fails_at_attach(hoomd, rng, model, message):
    from hoomd_mlx import TensorFlowForce

    pos, types, box = lattice_config(rng, n_side=4)
    sim = make_simulation(hoomd, pos, types, box)
    force = TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    integrate(hoomd, sim, [force])
    with pytest.raises(ModelOutputError, match=message):
        sim.run(0)


def test_nan_energies_stop_the_run_naming_step_and_particle(hoomd, rng):
    from hoomd_mlx import TensorFlowForce

    poison = tf.Variable(0.0, dtype=tf.float64)
    lj = LennardJones(LJ_PARAMS, TYPES)

    def model(r, ti, tj):
        return lj(r, ti, tj) + poison

    pos, types, box = lattice_config(rng, n_side=4)
    sim = make_simulation(hoomd, pos, types, box)
    integrate(hoomd, sim, [TensorFlowForce(model, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)])
    sim.run(5)
    poison.assign(np.nan)
    with pytest.raises(NonFiniteForceError, match=r"timestep 6 on particle tag \d+"):
        sim.run(5)


def test_wca_matches_native_shifted_lj(hoomd, rng):
    from hoomd_mlx import TensorFlowForce
    from hoomd_mlx.coupling import WCA

    pos, types, box = lattice_config(rng, n_side=6, spacing=1.3)
    sim = make_simulation(hoomd, pos, types, box)
    native = hoomd.md.pair.LJ(nlist=hoomd.md.nlist.Cell(buffer=0.4), mode="shift")
    wca = WCA(LJ_PARAMS, TYPES)
    for pair, params in LJ_PARAMS.items():
        native.params[pair] = params
        native.r_cut[pair] = 2 ** (1 / 6) * params["sigma"]
    ours = TensorFlowForce(wca, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=wca.r_cut)
    integrate(hoomd, sim, [native, ours])
    sim.run(1)
    assert np.abs(native.forces).max() > 0
    np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-10, atol=1e-10)
    # HOOMD's shift subtracts V(r_cut); WCA adds epsilon, the same number
    np.testing.assert_allclose(ours.energies, native.energies, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("r_cut", "message"),
    [
        (-1.0, "positive"),
        (0.0, "positive"),
        ("2.5x", "number"),
        ({("A", "A"): 2.5, ("A", "B"): -2.0, ("B", "B"): 2.5}, r"r_cut\[\('A', 'B'\)\]"),
        ({"A": 2.5}, "pairs of type names"),
    ],
)
def test_bad_cutoffs_are_refused_at_construction(hoomd, r_cut, message):
    from hoomd_mlx import TensorFlowForce

    with pytest.raises(ConfigurationError, match=message):
        TensorFlowForce(LennardJones(LJ_PARAMS, TYPES), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=r_cut)


def test_missing_type_pair_named_at_construction_when_the_model_knows_its_types(hoomd):
    from hoomd_mlx import TensorFlowForce

    with pytest.raises(ConfigurationError, match=r"no entry for type pair \('A', 'B'\)"):
        TensorFlowForce(
            LennardJones(LJ_PARAMS, TYPES),
            nlist=hoomd.md.nlist.Cell(buffer=0.4),
            r_cut={("A", "A"): 2.5, ("B", "B"): 2.5},
        )


def test_missing_type_pair_named_at_attach_otherwise(hoomd, rng):
    from hoomd_mlx import TensorFlowForce

    lj = LennardJones(LJ_PARAMS, TYPES)
    force = TensorFlowForce(
        lambda r, a, b: lj(r, a, b), nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut={("A", "A"): 2.5}
    )
    pos, types, box = lattice_config(rng, n_side=4)
    sim = make_simulation(hoomd, pos, types, box)
    integrate(hoomd, sim, [force])
    with pytest.raises(ConfigurationError, match="no entry for type pair"):
        sim.run(0)


def test_model_dtype_disagreeing_with_force_dtype_is_refused(hoomd):
    from hoomd_mlx import TensorFlowForce

    with pytest.raises(ConfigurationError, match=r"computes in float64.*dtype='float32'"):
        TensorFlowForce(
            LennardJones(LJ_PARAMS, TYPES),
            nlist=hoomd.md.nlist.Cell(buffer=0.4),
            r_cut=R_CUT,
            dtype="float32",
        )


def test_asymmetric_pair_model_is_refused_at_attach(hoomd, rng):
    from hoomd_mlx import TensorFlowForce

    lj = LennardJones(LJ_PARAMS, TYPES)

    def lopsided(r, a, b):  # depends on which particle comes first
        return lj(r, a, b) + 0.1 * tf.cast(a, tf.float64) + 0.01 * r[:, 0]

    pos, types, box = lattice_config(rng, n_side=4)
    sim = make_simulation(hoomd, pos, types, box)
    integrate(hoomd, sim, [TensorFlowForce(lopsided, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)])
    with pytest.raises(ModelOutputError, match="not symmetric"):
        sim.run(0)


def _through_numpy(x, check=None):
    """``x + 0`` computed by numpy (an op XLA cannot compile), with a zero gradient."""

    @tf.custom_gradient
    def opaque(v):
        def zeros(a):
            if check is not None:
                check(a)
            return np.zeros_like(a)

        out = tf.reshape(tf.numpy_function(zeros, [v], v.dtype), tf.shape(v))
        return out, lambda dy: tf.zeros_like(dy)

    return x + opaque(x)


def test_xla_fallback_only_where_xla_cannot_compile(hoomd, rng, caplog):
    """A model XLA cannot compile runs as a plain graph (with a warning) and still matches native."""
    from hoomd_mlx import TensorFlowForce

    lj = LennardJones(LJ_PARAMS, TYPES)

    def through_numpy(r, a, b):
        return _through_numpy(lj(r, a, b))

    pos, types, box = lattice_config(rng, n_side=5)
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = TensorFlowForce(through_numpy, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    integrate(hoomd, sim, [native, ours])
    with caplog.at_level("WARNING", logger="hoomd_mlx.plugin.engine"):
        sim.run(1)
    assert "XLA cannot compile" in caplog.text
    np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-10, atol=1e-9)


def test_model_error_inside_the_step_surfaces_instead_of_switching_xla_off(hoomd, rng, caplog):
    from hoomd_mlx import TensorFlowForce

    lj = LennardJones(LJ_PARAMS, TYPES)

    def fails_on_real_systems(r, a, b):
        def check(x):
            if x.shape[0] > 100:  # passes the checks at attach, fails in the step
                raise ValueError("model refuses more than 100 pairs")

        return _through_numpy(lj(r, a, b), check)

    pos, types, box = lattice_config(rng, n_side=5)
    sim = make_simulation(hoomd, pos, types, box)
    force = TensorFlowForce(fails_on_real_systems, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    integrate(hoomd, sim, [force])
    with (
        caplog.at_level("WARNING", logger="hoomd_mlx.plugin.engine"),
        pytest.raises(ModelOutputError, match="refuses more than 100 pairs"),
    ):
        sim.run(1)
    assert "XLA cannot compile" not in caplog.text


def test_two_forces_sharing_a_list_keep_their_cutoffs_when_one_leaves(hoomd, rng):
    from hoomd_mlx import TensorFlowForce

    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    half_lj = {pair: dict(p, epsilon=0.5 * p["epsilon"]) for pair, p in LJ_PARAMS.items()}
    first = TensorFlowForce(LennardJones(half_lj, TYPES), nlist=nlist, r_cut=R_CUT)
    second = TensorFlowForce(LennardJones(half_lj, TYPES), nlist=nlist, r_cut=R_CUT)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    integrate(hoomd, sim, [first, second, native])
    sim.run(1)
    sim.operations.integrator.forces.remove(first)
    assert nlist.r_cut[("A", "A")] == R_CUT  # still asked for by the second force
    sim.run(1)
    np.testing.assert_allclose(2 * second.forces, native.forces, rtol=1e-10, atol=1e-9)


def test_forces_follow_a_new_snapshot_at_the_same_timestep(hoomd, rng):
    """set_snapshot then run(0) again, frame by frame: the neighbor table must be rebuilt."""
    pos, types, box = lattice_config(rng, n_side=6)
    sim = make_simulation(hoomd, pos, types, box)
    native = native_lj(hoomd, hoomd.md.nlist.Cell(buffer=0.4))
    ours = tf_force(hoomd)
    integrate(hoomd, sim, [native, ours])
    sim.run(0)
    for _ in range(2):
        snap = sim.state.get_snapshot()
        snap.particles.position[:] = snap.particles.position[rng.permutation(len(pos))]
        sim.state.set_snapshot(snap)
        sim.run(0)
        np.testing.assert_allclose(ours.forces, native.forces, rtol=1e-10, atol=1e-9)


def test_a_model_that_ignores_distance_gives_zero_forces(hoomd, rng):
    from hoomd_mlx import TensorFlowForce

    def per_type(r, a, b):  # energy by type pair only: no dependence on r_ij
        return tf.cast(a + b, tf.float64) * 0.1

    pos, types, box = lattice_config(rng, n_side=5)
    sim = make_simulation(hoomd, pos, types, box)
    ours = TensorFlowForce(per_type, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=R_CUT)
    integrate(hoomd, sim, [ours])
    sim.run(1)
    np.testing.assert_array_equal(ours.forces, 0.0)
    assert np.abs(ours.energies).max() > 0


def test_half_precision_and_order_dependent_cutoffs_are_refused(hoomd):
    from hoomd_mlx import TensorFlowForce

    nlist = hoomd.md.nlist.Cell(buffer=0.4)
    with pytest.raises(ConfigurationError, match="float64 and float32"):
        TensorFlowForce(LennardJones(LJ_PARAMS, TYPES, dtype="float16"), nlist=nlist, r_cut=R_CUT)
    with pytest.raises(ConfigurationError, match="order of its types"):
        TensorFlowForce(
            LennardJones(LJ_PARAMS, TYPES),
            nlist=nlist,
            r_cut={("A", "A"): 2.5, ("A", "B"): 2.5, ("B", "A"): 2.0, ("B", "B"): 2.5},
        )
