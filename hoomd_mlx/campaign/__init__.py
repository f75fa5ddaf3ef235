"""The Dask side of hoomd-mlx: campaigns of HOOMD jobs.

Modules (imported directly, so a job subprocess loads only what it needs):

* `spec` -- TOML campaign specs validated into dataclasses;
* `design` -- parameters and their sampling, job identity;
* `ledger` -- the SQLite ledger, the single source of truth;
* `runner` -- the driver (`run_campaign`) on a Dask cluster (`cluster`);
* `execute`, `jobmain` -- one job on a worker, in a subprocess;
* `launcher`, `ranks` -- a job on several MPI ranks (``mpirun``/``srun``), and how its ranks agree;
* `checkpoint` -- `JobContext`: build-or-resume, checkpointed runs, SIGTERM;
* `analysis` -- freud analyses of trajectories;
* `status`, `report` -- what the CLI shows.
"""
