"""The confined-electrolyte state: counts, neutrality, placement and clear errors (no HOOMD needed)."""

import numpy as np
import pytest
import tensorflow as tf

from hoomd_mlx.electrolyte import Electrolyte
from hoomd_mlx.electrolyte.profiles import DensityProfiles, fraction_within, group_bins
from hoomd_mlx.electrolyte.slab import SlabCorrection, slab_forces
from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.plugin import ManyBodyInputs

REFERENCE = {"Z": 3.0, "c": 0.5, "d": 0.474, "a": 0.627, "box_xy": 15.32}


def test_counts_match_the_groups_reference_run():
    """The group's log for this state: 240 cations (28 of them counterions), 212 anions."""
    setup = Electrolyte(**REFERENCE, i=-0.01).setup()
    assert setup.counts == {"P": 212, "N": 212, "C": 28}
    assert setup.sigma_nm == pytest.approx(0.474)
    assert setup.diameter["N"] == pytest.approx(0.627 / 0.474)
    assert setup.box[2] == pytest.approx(3 * 3.0 / 0.474)
    assert setup.summary()["wall_charge_density"] == pytest.approx(-0.00955, abs=2e-5)  # the log's value
    assert Electrolyte(**REFERENCE).setup().counts == {"P": 212, "N": 212, "C": 0}


def test_mesh_walls_are_neutral_point_charges():
    setup = Electrolyte(**REFERENCE, i=-0.01, walls="mesh", mesh=50).setup()
    assert setup.n_mesh == 5000
    assert setup.mesh_valency * setup.n_mesh == pytest.approx(-28)
    mesh = setup.mesh_positions()
    assert np.allclose(np.abs(mesh[:, 2]), setup.channel / 2)
    setup.check_neutral()


def test_divalent_salt_is_neutral():
    setup = Electrolyte(Z=3.0, c=0.5, d=0.5, a=0.5, p=2, n=-1, i=-0.01).setup()
    assert setup.counts["N"] == 2 * setup.counts["P"]
    setup.check_neutral()


def test_ions_placed_without_overlap_inside_the_walls(rng):
    setup = Electrolyte(**REFERENCE, i=-0.01).setup()
    positions, names = setup.ion_positions(rng)
    assert len(positions) == setup.n_ions == len(names)
    half = setup.channel / 2
    radius = np.array([setup.diameter[t] / 2 for t in names])
    assert np.all(np.abs(positions[:, 2]) + radius <= half + 1e-12)
    from scipy.spatial.distance import pdist, squareform

    dist = squareform(pdist(positions))  # lattice sites: no periodic wrap needed
    contact = 0.5 * (radius[:, None] + radius[None, :]) * 2
    np.fill_diagonal(dist, np.inf)
    assert np.all(dist >= contact - 1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d": -0.4}, "d must be a positive"),
        ({"c": 0.0}, "c must be a positive"),
        ({"Z": 0.5}, "no wider than the larger ion"),
        ({"i": 0.01}, "positive"),
        ({"p": 0}, "positive integer"),
        ({"walls": "smooth"}, "'sheet' or 'mesh'"),
        ({"c": 60.0}, "do not fit"),
        ({"c": 0.001, "box_xy": 2.0}, "gives no ions"),
        ({"i": -0.0001, "box_xy": 2.0}, "less than one elementary charge"),
    ],
)
def test_impossible_inputs_are_named(change, message, rng):
    with pytest.raises(ConfigurationError, match=message):
        Electrolyte(**{**REFERENCE, **change}).setup().ion_positions(rng)


def test_slab_correction_forces_are_the_gradient_of_its_energy(rng):
    """Autodiff of the model against the closed form, with a net charge (sheet walls)."""
    n = 40
    pos = rng.uniform(-3, 3, size=(n, 3))
    q = rng.choice([-1.2, 1.2], size=n)
    q[:5] = 1.2  # net charge
    box = (10.0, 11.0, 30.0)
    x = tf.Variable(pos)
    with tf.GradientTape() as tape:
        inputs = ManyBodyInputs(
            x, tf.zeros(n, tf.int32), tf.constant([*box, 0, 0, 0], tf.float64), tf.constant(q),
            *(tf.zeros(0, tf.int32),) * 2, tf.zeros((0, 3), tf.float64), tf.zeros(0, tf.bool),
        )  # fmt: skip
        energy = tf.reduce_sum(SlabCorrection()(inputs))
    forces = -tape.gradient(energy, x).numpy()
    np.testing.assert_allclose(forces, slab_forces(pos, q, box), rtol=1e-12, atol=1e-14)
    mz, total = np.sum(q * pos[:, 2]), np.sum(q)
    expected = 2 * np.pi / np.prod(box) * (mz**2 - total * np.sum(q * pos[:, 2] ** 2))
    assert float(energy) == pytest.approx(expected, rel=1e-12)


def test_group_bins_and_profiles_in_molar(rng):
    setup = Electrolyte(**REFERENCE).setup()
    lower, upper = group_bins(setup)
    assert len(lower) == 126 + 2  # as in the reference files
    assert np.allclose((upper - lower) * setup.sigma_nm, 3.0 / 126)
    # uniform ions: every interior bin holds c on average
    frames = 400
    samples = (
        [rng.uniform(-setup.channel / 2, setup.channel / 2, 212) for _ in range(frames)],
        [rng.uniform(-setup.channel / 2, setup.channel / 2, 212) for _ in range(frames)],
    )
    prof = DensityProfiles.compute(samples, setup, (lower, upper), blocks=10)
    assert prof.positive.mean() == pytest.approx(212 / (0.6022 * 15.32**2 * 3.0), rel=0.02)
    within = fraction_within(
        prof.positive, prof.positive_error, np.full(128, prof.positive.mean()), np.zeros(128)
    )
    assert 0.5 < within < 0.85  # ~68% of bins within one standard error of the truth


def test_fraction_within_counts_occupied_bins():
    ref, err = np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.1, 0.1, 0.0])
    ours = np.array([0.0, 1.05, 1.5, 0.0])
    assert fraction_within(ours, err, ref, err) == 0.5
    assert fraction_within(ours, err, ref, err, occupied_only=False) == 0.75


def test_compare_separates_contact_edges_from_the_rest():
    """A contact edge shifted by a fraction of a bin wrecks rms z there, not inside the edges."""
    from hoomd_mlx.electrolyte.profiles import DensityProfiles
    from hoomd_mlx.electrolyte.reference import ReferenceProfile, compare, half_height_edges

    rng = np.random.default_rng(2)
    z = np.linspace(-2.0, 2.0, 401)  # 0.01 nm bins

    def profile(edge):  # zero beyond the walls, a steep climb to a contact peak, flat inside
        inside = 2.0 - np.abs(z)
        return np.clip((inside - (0.2 - edge)) / 0.015, 0, 1) * (0.5 + 0.3 * np.exp(-inside / 0.1))

    truth, shifted = profile(0.0), profile(0.006)
    err = np.where(truth > 0, 0.02, 0.0)
    ref = ReferenceProfile("r", {}, z, 0.01, truth, err, truth, err)
    noisy = shifted + err * rng.standard_normal(z.size)
    ours = DensityProfiles(z, noisy, err, noisy, err, frames=100)
    left, right = half_height_edges(z, truth)
    assert left == pytest.approx(-1.8 + 0.0075, abs=2e-3)
    assert right == pytest.approx(1.8 - 0.0075, abs=2e-3)
    result = compare(ours, ref)
    assert result["edge_shift"] == pytest.approx(0.006, abs=2e-3)
    assert result["rms_z"] > 2  # the edge bins differ by far more than the error bars
    assert result["rms_z_inside"] == pytest.approx(1.0, abs=0.15)  # statistics only inside
