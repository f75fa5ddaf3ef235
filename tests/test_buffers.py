import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin.buffers import TF_ALIGNMENT, AlignedStaging, TensorBridge, full_rows, is_aligned


def _buffer_at(offset, rows=100):
    """A (rows, 4) float64 array starting ``offset`` bytes past a 64-byte boundary."""
    raw = np.zeros(rows * 32 + 2 * TF_ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % TF_ALIGNMENT + offset
    return raw[start : start + rows * 32].view(np.float64).reshape(rows, 4)


class _Exported:
    """Hands a TF tensor's DLPack capsule to numpy (TF tensors lack ``__dlpack__``)."""

    def __init__(self, tensor):
        self._capsule = tf.experimental.dlpack.to_dlpack(tensor)

    def __dlpack__(self, **kwargs):
        return self._capsule

    def __dlpack_device__(self):
        return (1, 0)


def _pointer(tensor):
    """Address of the memory a CPU tensor computes on."""
    return np.from_dlpack(_Exported(tensor)).ctypes.data


def test_full_rows_widens_strided_view_without_copy():
    base = np.arange(40.0).reshape(10, 4)
    xyz = base[:, :3]
    wide = full_rows(xyz, 4)
    assert wide.shape == (10, 4)
    assert wide.ctypes.data == base.ctypes.data
    np.testing.assert_array_equal(wide, base)


def test_full_rows_rejects_wrong_layout():
    import pytest

    with pytest.raises(ValueError, match="rows of 4"):
        full_rows(np.zeros((10, 3)), 4)


def test_aligned_buffer_is_shared_zero_copy():
    arr = _buffer_at(0)
    arr[:] = 1.5
    bridge = TensorBridge()
    t = bridge(arr)
    assert bridge.last_path == "zero-copy"
    assert _pointer(t) == arr.ctypes.data
    arr[3, 2] = 42.0  # a write on the host side is seen by TensorFlow
    assert float(tf.reduce_sum(t)) == 1.5 * 399 + 42.0


def test_misaligned_buffer_takes_staged_path_without_crashing():
    arr = _buffer_at(32)  # 32-byte aligned, as HOOMD may hand out
    assert not is_aligned(arr)
    arr[:] = np.arange(400.0).reshape(100, 4)
    bridge = TensorBridge()
    t = bridge(arr)
    assert bridge.last_path == "staged"
    assert _pointer(t) % TF_ALIGNMENT == 0
    # a real op over the tensor: this aborts the process if the memory were misaligned
    assert float(tf.reduce_sum(t * 2.0)) == 2.0 * np.arange(400.0).sum()
    first = _pointer(t)
    arr[0, 0] = -1.0
    t2 = bridge(arr)
    assert _pointer(t2) == first  # the staging buffer persists across steps
    assert float(t2[0, 0]) == -1.0
    assert bridge.counts == {"zero-copy": 0, "staged": 2}


def test_staging_reallocates_when_shape_changes():
    staging = AlignedStaging()
    staging.stage(np.ones((5, 4)))
    t = staging.stage(np.ones((7, 4)))
    assert t.shape == (7, 4)
    assert is_aligned(staging.array)
