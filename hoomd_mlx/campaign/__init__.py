"""Campaigns: bags of HOOMD jobs over a design space, on Dask, recorded in a SQLite ledger.

Subpackages by role (the arrows: who imports whom; never the other way round; map in
``docs/package_map.md``):

* `config` -- what a campaign is: the spec and every table of it (design, cluster, surrogate,
  analyses), each a settings class validated when the spec loads (`hoomd_mlx.settings`);
* `driver` -- the one process that writes the ledger: the run loop (`driver.runner`), its
  session with one handler per event (`driver.session`), plugins beside it (watchers, the
  learner), the ledger, the surrogate learner, status;
* `backends` -- where the workers come from: LocalCluster or a scheduler (`backends.cluster`),
  SLURM/PBS batch jobs (`backends.batch`), worker processes, the watchers of workers;
* `job` -- one job on a worker: the contract both sides share (`job.contract`), the subprocess
  (`job.execute`, `job.main`), MPI launch (`job.launcher`, `job.ranks`) and checkpoints
  (`job.checkpoint`: `JobContext`);
* `report` -- ``campaign report``: plots and the document;
* `events` -- every event kind, as types; `analysis` -- freud analyses of trajectories;
  `workloads` -- how a workload (the electrolyte) plugs its knowledge in.

Modules are imported directly (``from hoomd_mlx.campaign.job.checkpoint import JobContext``),
so a job subprocess loads only what it needs.
"""
