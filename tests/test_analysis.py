"""freud analyses of a trajectory, on synthetic GSD files with known answers."""

import gsd.hoomd
import numpy as np
import pytest

from hoomd_mlx.campaign.analysis import density_profile, msd, rdf, run_analyses
from hoomd_mlx.trajectory import block_error, unique_frames


def _write(path, frames):
    with gsd.hoomd.open(path, "w") as traj:
        for step, pos, image in frames:
            frame = gsd.hoomd.Frame()
            frame.configuration.step = step
            frame.configuration.box = [10, 10, 10, 0, 0, 0]
            frame.particles.N = len(pos)
            frame.particles.types = ["A", "B"]
            frame.particles.typeid = np.arange(len(pos)) % 2
            frame.particles.position = pos
            frame.particles.image = image
            traj.append(frame)


def test_rdf_of_an_ideal_gas_is_flat(tmp_path, rng):
    path = tmp_path / "t.gsd"
    frames = [
        (k, rng.uniform(-5, 5, (2000, 3)).astype(np.float32), np.zeros((2000, 3), np.int32)) for k in range(5)
    ]
    _write(path, frames)
    arrays, summary = rdf(path, bins=30, r_max=3.0)
    assert np.abs(arrays["g"][10:] - 1).max() < 0.1
    assert summary["rdf_peak_height"] < 1.2


def test_density_profile_counts_particles_with_errors(tmp_path, rng):
    path = tmp_path / "t.gsd"
    pos = rng.uniform(-5, 5, (1000, 3)).astype(np.float32)
    pos[:, 2] = rng.uniform(0.2, 4.8, 1000)  # everything in the upper half
    frames = [
        (k, pos + rng.normal(0, 0.01, pos.shape).astype(np.float32), np.zeros_like(pos, np.int32))
        for k in range(6)
    ]
    _write(path, frames)
    arrays, _ = density_profile(path, axis="z", bins=10, blocks=3)
    density = arrays["density"]  # (types, bins)
    assert density.shape == (2, 10)
    assert np.allclose(density[:, :5], 0)
    volume_per_bin = 10 * 10 * 1.0
    assert density.sum() * volume_per_bin == pytest.approx(1000, rel=1e-6)
    assert arrays["error"].shape == density.shape


def test_msd_of_a_steady_drift(tmp_path):
    path = tmp_path / "t.gsd"
    base = np.zeros((10, 3), np.float32)
    frames = []
    for k in range(5):  # every particle moves 3 units in x per frame, crossing the box through images
        x = 3.0 * k
        wrapped = ((x + 5) % 10) - 5
        image = np.zeros((10, 3), np.int32)
        image[:, 0] = int(np.floor((x + 5) / 10))
        pos = base.copy()
        pos[:, 0] = wrapped
        frames.append((100 * k, pos, image))
    _write(path, frames)
    arrays, _ = msd(path)
    np.testing.assert_allclose(arrays["msd"], (3.0 * np.arange(5)) ** 2, rtol=1e-5)
    np.testing.assert_array_equal(arrays["lag_steps"], 100 * np.arange(5))


def test_frames_repeated_after_a_resume_count_once(tmp_path, rng):
    path = tmp_path / "t.gsd"
    pos = rng.uniform(-5, 5, (10, 3)).astype(np.float32)
    zero = np.zeros((10, 3), np.int32)
    _write(path, [(0, pos, zero), (100, pos, zero), (200, pos, zero), (100, pos + 1, zero), (200, pos, zero)])
    frames = unique_frames(path)
    assert [f.configuration.step for f in frames] == [0, 100, 200]
    np.testing.assert_allclose(frames[1].particles.position, pos + 1)


def test_run_analyses_merges_summaries(tmp_path, rng):
    path = tmp_path / "t.gsd"
    _write(
        path,
        [
            (k, rng.uniform(-5, 5, (500, 3)).astype(np.float32), np.zeros((500, 3), np.int32))
            for k in range(3)
        ],
    )
    analyses = ({"kind": "rdf", "bins": 20, "r_max": 2.0, "frames": 0}, {"kind": "msd"})
    arrays, summary = run_analyses(path, analyses)
    # the merged results are the analyses' own, under their kind's prefix
    alone, alone_summary = rdf(path, bins=20, r_max=2.0)
    np.testing.assert_array_equal(arrays["rdf.g"], alone["g"])
    np.testing.assert_array_equal(arrays["rdf.r"], alone["r"])
    assert summary["rdf_peak_height"] == alone_summary["rdf_peak_height"] == arrays["rdf.g"].max()
    np.testing.assert_array_equal(arrays["msd.msd"], msd(path)[0]["msd"])
    # and they are right: an ideal gas is flat beyond the noisy first shells
    assert np.abs(arrays["rdf.g"][10:] - 1).max() < 0.2


def test_block_error_of_constant_samples_is_zero():
    assert np.allclose(block_error(np.ones((10, 4)), 5), 0)
