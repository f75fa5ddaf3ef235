"""The confined-electrolyte workload: ions between two charged walls (Kadupitiya, Jadhao et al.).

- `system`: physical inputs (`Electrolyte`) and the reduced-unit system they give;
- `slab`: the slab correction (and uniformly charged walls) as a TensorFlow model;
- `simulation`: the HOOMD-blue forces and integrator;
- `profiles`: density profiles with error bars; `reference`: the published ones;
- `run`: one state point inside a campaign job directory.

Importing this package does not import HOOMD-blue or TensorFlow.
"""

from hoomd_mlx.electrolyte.system import Electrolyte, ElectrolyteSetup

__all__ = ["Electrolyte", "ElectrolyteSetup"]
