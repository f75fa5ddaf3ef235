"""Job function of the confined-electrolyte campaigns (``nanoconfinement*.toml``).

One job is one state point of ions between two charged walls
(`hoomd_mlx.electrolyte`): HOOMD-blue WCA ions and walls, PPPM, and the slab
correction through ``hoomd_mlx.TensorFlowForce``. It writes the density profiles
(``profiles.npz``, ``{p,n}_density_profile.dat``, ``profiles.png``) to the job
directory and returns the profiles in ``profile_bins`` bins from wall to wall, the
vectors the campaign's surrogate learns.
"""

from __future__ import annotations

from hoomd_mlx.electrolyte.run import ElectrolyteJobSettings


def run(params: dict, job) -> dict:
    """Simulate one state point; see `hoomd_mlx.electrolyte.run.run_state_point`."""
    from hoomd_mlx.electrolyte.run import run_state_point

    return run_state_point(params, job)


run.settings = ElectrolyteJobSettings  # [job.settings] is checked when the spec loads
