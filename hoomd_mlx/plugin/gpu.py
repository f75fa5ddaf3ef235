"""The GPU path: HOOMD's device arrays into TensorFlow on the GPU, without leaving the device.

On ``hoomd.device.GPU``, HOOMD exposes its particle, force and neighbor-list
arrays through ``__cuda_array_interface__`` (``gpu_local_snapshot``,
``gpu_local_force_arrays``, ``gpu_local_nlist_arrays``). TensorFlow reads
neither that interface nor strided views, so CuPy wraps HOOMD's memory
(zero-copy), widens the (N, 3) views to whole Scalar4 records, and hands them to
TensorFlow by DLPack. Neighbor tables and pairs are built on the device with CuPy. Results come back
to HOOMD's arrays by one device-to-device copy each.

HOOMD works on the default CUDA stream and TensorFlow on its own, so the device
is synchronised where data changes hands.

Needs CuPy (``pip install hoomd-mlx[gpu]``), a GPU build of HOOMD-blue and a GPU
TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import GPUSupportError
from hoomd_mlx.plugin import _compat
from hoomd_mlx.plugin.engine import HostArrays

__all__ = ["GPUArrays", "require_gpu_stack"]


def require_gpu_stack() -> Any:
    """Return the ``cupy`` module, or raise `GPUSupportError` naming what is missing."""
    try:
        import cupy
    except ImportError as err:
        raise GPUSupportError(
            "TensorFlowForce on hoomd.device.GPU needs CuPy to read HOOMD's __cuda_array_interface__ "
            "arrays: pip install 'hoomd-mlx[gpu]' (or cupy-cudaXXx for your CUDA)"
        ) from err
    if not tf.config.list_physical_devices("GPU"):
        raise GPUSupportError(
            "HOOMD runs on a GPU but TensorFlow sees none: install a CUDA build of TensorFlow "
            "(pip install 'tensorflow[and-cuda]') or run HOOMD on hoomd.device.CPU"
        )
    return cupy


def _widen(cupy: Any, view: Any, width: int) -> Any:
    """The (N, width) device view of the Scalar records behind a strided (N, k) view."""
    item = view.dtype.itemsize
    n = view.shape[0]
    return cupy.lib.stride_tricks.as_strided(view, shape=(n, width), strides=(width * item, item))


def _to_tf(cupy_array: Any) -> tf.Tensor:
    return tf.experimental.dlpack.from_dlpack(cupy_array.toDlpack())


class GPUArrays(HostArrays):
    """HOOMD's device arrays as CuPy views, handed to TensorFlow on the GPU by DLPack.

    The same interface as `HostArrays`, so `ForceEngine` runs one step path on
    both devices. Positions are zero-copy when 64-byte aligned (cudaMalloc gives
    256) and staged through one persistent device buffer otherwise.
    """

    gpu = True

    def __init__(self) -> None:
        super().__init__()
        self._cupy = require_gpu_stack()
        self.xp = self._cupy
        self._staging = None
        self._path = ""

    @property
    def input_path(self) -> str:
        """str: ``"zero-copy"`` or ``"staged"``: how positions reached TensorFlow last step."""
        return self._path

    def view(self, hoomd_array: Any) -> Any:
        """The CuPy view of a HOOMD GPU local-access array (no copy)."""
        return _compat.device_array(hoomd_array)

    def records(self, view: Any) -> Any:
        """The (N, 4) Scalar4 device records behind HOOMD's strided (N, 3) view (no copy)."""
        return _widen(self._cupy, view, 4)

    def address(self, view: Any) -> int:
        """int: The device address of a view's first element."""
        return view.data.ptr

    def postype(self, position: Any) -> tf.Tensor:
        """(N, 4) device tensor of HOOMD's Scalar4 ``(x, y, z, type)`` records."""
        records = self.records(self.view(position))
        if records.data.ptr % 64 == 0:
            self._path = "zero-copy"
        else:
            if self._staging is None or self._staging.shape != records.shape:
                self._staging = self._cupy.empty(records.shape, records.dtype)  # cudaMalloc: aligned
            self._staging[...] = records
            records = self._staging
            self._path = "staged"
        return _to_tf(records)

    def charges(self, charge: Any) -> tf.Tensor:
        """(N,) device tensor of HOOMD's charges."""
        return _to_tf(self._cupy.ascontiguousarray(self.view(charge)))

    def tensor(self, array: Any) -> tf.Tensor:
        """A device tensor sharing a CuPy array built for the current neighbor-list build."""
        return _to_tf(self._cupy.ascontiguousarray(self._cupy.asarray(array)))  # host arrays too

    def write(self, target: Any, tensor: tf.Tensor, rows: int) -> None:
        """Copy the first ``rows`` rows of ``tensor`` into a HOOMD device array, device to device."""
        target[:rows] = self._cupy.from_dlpack(tf.experimental.dlpack.to_dlpack(tensor))[:rows]

    def host(self, array: Any) -> np.ndarray:
        """``array`` (a tensor or CuPy array) as a numpy array."""
        if isinstance(array, tf.Tensor):
            return array.numpy()
        return self._cupy.asnumpy(array)

    def synchronize(self) -> None:
        """HOOMD works on the default stream and TensorFlow on its own: wait for both."""
        self._cupy.cuda.runtime.deviceSynchronize()
