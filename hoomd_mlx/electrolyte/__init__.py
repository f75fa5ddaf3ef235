"""The confined-electrolyte workload: ions between two charged walls (Kadupitiya, Jadhao et al.).

- `system`: physical inputs (`Electrolyte`) and the reduced-unit system they give;
- `slab`: the slab correction (and uniformly charged walls) as a TensorFlow model;
- `simulation`: the HOOMD-blue forces and integrator;
- `profiles`: density profiles with error bars; `reference`: the published ones;
- `run`: one state point inside a campaign job directory;
- `channel`: the profiles' physics for surrogates (`ChannelProfiles`); `data`: the published
  profiles (`load_nanoconfinement_profiles`); `workload`: what it plugs into the campaign layer.

Importing this package does not import HOOMD-blue or TensorFlow.
"""

from hoomd_mlx.electrolyte.channel import ChannelProfiles
from hoomd_mlx.electrolyte.data import NanoconfinementProfiles, load_nanoconfinement_profiles
from hoomd_mlx.electrolyte.system import Electrolyte, ElectrolyteSetup

__all__ = [
    "ChannelProfiles",
    "Electrolyte",
    "ElectrolyteSetup",
    "NanoconfinementProfiles",
    "load_nanoconfinement_profiles",
]
