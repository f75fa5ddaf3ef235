"""The GPU path: HOOMD's device arrays into TensorFlow on the GPU, without leaving the device.

On ``hoomd.device.GPU``, HOOMD exposes its particle, force and neighbor-list
arrays through ``__cuda_array_interface__`` (``gpu_local_snapshot``,
``gpu_local_force_arrays``, ``gpu_local_nlist_arrays``). TensorFlow reads
neither that interface nor strided views, so CuPy wraps HOOMD's memory
(zero-copy), widens the (N, 3) views to whole Scalar4 records, and hands them to
TensorFlow by DLPack. Pairs are built on the device with CuPy. Results come back
to HOOMD's arrays by one device-to-device copy each.

HOOMD works on the default CUDA stream and TensorFlow on its own, so the device
is synchronised where data changes hands.

Needs CuPy (``pip install hoomd-mlx[gpu]``), a GPU build of HOOMD-blue and a GPU
TensorFlow.
"""

from __future__ import annotations

import time
from typing import Any

import tensorflow as tf

from hoomd_mlx.errors import GPUSupportError
from hoomd_mlx.plugin import _compat
from hoomd_mlx.plugin.engine import ForceEngine
from hoomd_mlx.plugin.pairs import NeighborPairs

__all__ = ["GPUForceEngine", "require_gpu_stack"]


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


def _from_tf(cupy: Any, tensor: tf.Tensor) -> Any:
    return cupy.from_dlpack(tf.experimental.dlpack.to_dlpack(tensor))


class GPUForceEngine(ForceEngine):
    """`ForceEngine` whose data stays on the GPU from HOOMD to TensorFlow and back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cupy = require_gpu_stack()
        self._xp = self._cupy
        super().__init__(*args, **kwargs)
        self._staging = None

    def _device_tensor(self, array: Any) -> tf.Tensor:
        """Zero-copy when 64-byte aligned (cudaMalloc gives 256), else one staged device copy."""
        if array.data.ptr % 64 == 0:
            self._positions.last_path = "zero-copy"
            self._positions.counts["zero-copy"] += 1
            return _to_tf(array)
        if self._staging is None or self._staging.shape != array.shape:
            self._staging = self._cupy.empty(array.shape, array.dtype)  # cudaMalloc: aligned
        self._staging[...] = array
        self._positions.last_path = "staged"
        self._positions.counts["staged"] += 1
        return _to_tf(self._staging)

    _gpu = True

    def _array(self, hoomd_array: Any) -> Any:
        return _compat.device_array(hoomd_array)

    def _tensors(self, pairs: NeighborPairs) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        self._cupy.cuda.runtime.deviceSynchronize()  # the pairs were built on CuPy's stream
        return _to_tf(pairs.i), _to_tf(pairs.j), tf.constant(pairs.count, tf.int32)

    def evaluate(self, force: Any, timestep: int) -> None:
        """Compute and write forces, energies and virials, all on the device."""
        cupy = self._cupy
        state = force._state
        with force.gpu_local_force_arrays as arrays, state.gpu_local_snapshot as snap:
            virial_view = _compat.device_array(arrays.virial)
            want_virial = _compat.virial_requested(virial_view)
            particles = snap.particles
            postype = _widen(cupy, _compat.device_array(particles.position), 4)
            charges = self._no_charges
            if self.many_body:
                charges = _to_tf(cupy.ascontiguousarray(_compat.device_array(particles.charge)))
            cupy.cuda.runtime.deviceSynchronize()
            start = time.perf_counter()
            force_energy, virial, finite = self._run_step(
                want_virial, self._device_tensor(postype), state.box, charges
            )
            ok = bool(finite)
            elapsed = time.perf_counter() - start
            if not ok:
                self._raise_non_finite(
                    _from_tf(cupy, force_energy).get(),
                    _from_tf(cupy, virial).get(),
                    _compat.device_array(particles.tag).get(),
                    timestep,
                )
            target = _widen(cupy, _compat.device_array(arrays.force), 4)
            target[...] = _from_tf(cupy, force_energy)
            if want_virial:
                virial_view[...] = _from_tf(cupy, virial)
            else:
                _compat.mark_virial_unused(virial_view)
            cupy.cuda.runtime.deviceSynchronize()
        self._count_step(elapsed, want_virial)
