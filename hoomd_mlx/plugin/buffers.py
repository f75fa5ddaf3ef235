"""The one place where HOOMD's particle buffers become TensorFlow tensors.

HOOMD stores positions and types together as Scalar4 ``(x, y, z, type)`` and
forces with energies as Scalar4 ``(fx, fy, fz, energy)``; its Python API shows
(N, 3) strided views of them. TensorFlow's DLPack import rejects strided views,
but accepts the (N, 4) view of the whole buffer without a copy. TensorFlow also
assumes 64-byte aligned memory and aborts the process on the first op over a
buffer that is not; HOOMD only promises 32 bytes. So:

* aligned buffer -> the tensor is a DLPack view of HOOMD's memory (``"zero-copy"``);
* otherwise -> one copy into a persistent 64-byte aligned staging buffer, which
  is then shared with TensorFlow the same way (``"staged"``).
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

__all__ = [
    "TF_ALIGNMENT",
    "AlignedStaging",
    "TensorBridge",
    "aligned_empty",
    "full_rows",
    "is_aligned",
    "shared_tensor",
    "tensor_view",
]

logger = logging.getLogger(__name__)

TF_ALIGNMENT = 64
"""int: Byte alignment TensorFlow requires of memory it computes on (Eigen's)."""


def is_aligned(array: np.ndarray, alignment: int = TF_ALIGNMENT) -> bool:
    """bool: Whether ``array``'s first byte sits on an ``alignment``-byte boundary."""
    return array.ctypes.data % alignment == 0


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-contiguous array whose first byte is 64-byte aligned (TensorFlow's need)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + TF_ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % TF_ALIGNMENT
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def shared_tensor(array: np.ndarray) -> tf.Tensor:
    """A tensor viewing ``array``'s memory (DLPack, no copy): writes to ``array`` show in it.

    ``array`` must be C-contiguous and 64-byte aligned (`aligned_empty`).
    """
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def tensor_view(tensor: tf.Tensor) -> np.ndarray:
    """A read-only numpy view of a host tensor's memory, without the copy ``.numpy()`` makes."""
    internal = getattr(tensor, "_numpy", None)  # EagerTensor: the view that .numpy() copies
    view = internal() if internal is not None else np.asarray(tensor)
    view.flags.writeable = False
    return view


def full_rows(view: np.ndarray, width: int) -> np.ndarray:
    """Widen a strided (N, k) view of (N, ``width``) records to the whole records.

    HOOMD exposes positions as the first 3 columns of Scalar4 records. This
    returns the C-contiguous (N, ``width``) view of the same memory, without a
    copy.

    Raises:
        ValueError: If ``view``'s row stride is not ``width`` items.
    """
    n = view.shape[0]
    item = view.dtype.itemsize
    if view.ndim != 2 or view.strides[1] != item or (n > 1 and view.strides[0] != width * item):
        raise ValueError(
            f"expected rows of {width} {view.dtype} records, got shape {view.shape} "
            f"with strides {view.strides}"
        )
    return np.lib.stride_tricks.as_strided(
        view, shape=(n, width), strides=(width * item, item), writeable=view.flags.writeable
    )


class AlignedStaging:
    """A persistent, 64-byte aligned host buffer reused from step to step.

    It grows when a larger array arrives and never shrinks, so a run allocates
    once. The TensorFlow view of it is created when the buffer is (re)allocated
    and reused afterwards.
    """

    def __init__(self) -> None:
        self._array: np.ndarray | None = None
        self._tensor: tf.Tensor | None = None

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._array = aligned_empty(shape, dtype)
        self._tensor = shared_tensor(self._array)
        logger.debug("allocated staging buffer %s %s", shape, dtype)

    def stage(self, source: np.ndarray) -> tf.Tensor:
        """Copy ``source`` into the staging buffer; return the tensor viewing it."""
        if self._array is None or self._array.shape != source.shape or self._array.dtype != source.dtype:
            self._allocate(source.shape, source.dtype)
        np.copyto(self._array, source)
        return self._tensor

    def stage_padded(self, source: np.ndarray, rows: int) -> tf.Tensor:
        """Copy ``source`` into the first rows of a (``rows``, ...) buffer; return its tensor.

        The rows past ``source`` keep what they held (zeros at first): a compiled step
        that reads only the rows it is told about sees one shape while the row count
        changes (particles plus ghosts under domain decomposition).
        """
        shape = (rows, *source.shape[1:])
        if self._array is None or self._array.shape != shape or self._array.dtype != source.dtype:
            self._allocate(shape, source.dtype)
            self._array[...] = 0
        np.copyto(self._array[: source.shape[0]], source)
        return self._tensor

    @property
    def array(self) -> np.ndarray | None:
        """numpy.ndarray: The staging buffer itself (None before the first `stage`)."""
        return self._array


class TensorBridge:
    """Turns host arrays into tensors: zero-copy when aligned, staged otherwise.

    Attributes:
        last_path (str): ``"zero-copy"`` or ``"staged"``: the path the most recent
            call took.
        counts (dict[str, int]): How many times each path ran.
    """

    def __init__(self) -> None:
        self._staging = AlignedStaging()
        self.last_path = ""
        self.counts = {"zero-copy": 0, "staged": 0}

    def __call__(self, array: np.ndarray) -> tf.Tensor:
        """Return a tensor with ``array``'s contents, sharing its memory when safe."""
        if array.flags.c_contiguous and is_aligned(array):
            tensor = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
            path = "zero-copy"
        else:
            tensor = self._staging.stage(array)
            path = "staged"
        if path != self.last_path:
            logger.debug("particle data reaches TensorFlow by the %s path", path)
        self.last_path = path
        self.counts[path] += 1
        return tensor
