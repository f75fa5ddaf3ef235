"""Cost and preemption: VM lifetime models, checkpoint schedules, server choice, a bag simulator, a drill.

Modules (imported directly; none imports `hoomd_mlx.campaign`, which uses them):

* `lifetime` -- fitted lifetime CDFs (SciSpot's bathtub, exponential, Weibull), normalised
  with a cap; hazard, survival, expected remaining life, sampling; refits from a ledger;
* `schedule` -- expected running times, optimal checkpoint schedules (dynamic programming
  under the age-dependent hazard) and Young-Daly; reuse an old VM or start a fresh one;
* `servers` -- prices per machine type and the cheapest server for a job;
* `simulate` -- a discrete-event simulator of a bag of jobs on preemptible VMs;
* `settings`, `plan` -- the ``[cloud]`` table of a campaign spec and ``hoomd-mlx cloud plan``;
* `drill` -- what a preemption drill is (``campaign run --preempt``; the killing is done by
  `hoomd_mlx.campaign.backends.watch`); `vm` -- the ledger's event kinds about VMs.
"""
