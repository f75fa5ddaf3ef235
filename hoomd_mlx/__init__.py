"""hoomd-mlx: HOOMD-blue and TensorFlow as one platform for molecular dynamics campaigns.

* `TensorFlowForce` (`hoomd_mlx.plugin`): a HOOMD-blue force from a TensorFlow
  energy model, forces by autodiff. Needs HOOMD-blue; imported on first use.
* `hoomd_mlx.coupling`: TensorFlow models (Lennard-Jones, WCA, learned pair
  potentials) and their training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hoomd_mlx.errors import HoomdMlxError

if TYPE_CHECKING:
    from hoomd_mlx.plugin.force import TensorFlowForce

__version__ = "0.1.0"
__all__ = ["HoomdMlxError", "TensorFlowForce", "__version__"]


def __getattr__(name: str) -> Any:
    # The one lazy name: importing it imports HOOMD (with a clear error if absent).
    if name == "TensorFlowForce":
        from hoomd_mlx.plugin.force import TensorFlowForce

        return TensorFlowForce
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
