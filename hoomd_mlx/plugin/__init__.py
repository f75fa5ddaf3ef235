"""The HOOMD-blue side: `TensorFlowForce` and the model contract.

`TensorFlowForce` needs HOOMD-blue and is imported on first use, so the rest of
the package (and this module's contract) works without HOOMD installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hoomd_mlx.plugin.contract import ManyBodyInputs, ManyBodyModel, PairModel

if TYPE_CHECKING:
    from hoomd_mlx.plugin.force import TensorFlowForce

__all__ = ["ManyBodyInputs", "ManyBodyModel", "PairModel", "TensorFlowForce"]


def __getattr__(name: str) -> Any:
    # The one lazy name: importing it imports HOOMD (with a clear error if absent).
    if name == "TensorFlowForce":
        from hoomd_mlx.plugin.force import TensorFlowForce

        return TensorFlowForce
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
