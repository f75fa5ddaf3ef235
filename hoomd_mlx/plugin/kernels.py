r"""Compiled MD kernels around the model: pair geometry in, forces and virials out.

The split of LAMMPS ML-IAP and DeePMD-kit (``prod_env_mat``, ``prod_force``,
``prod_virial``): the engine walks HOOMD's neighbor list and accumulates
forces, energies and virials in compiled loops next to HOOMD's arrays; the
model (TensorFlow, XLA) sees only dense displacement vectors and returns
energies and their gradients. Gathers, minimum images, cutoff masks and
scatters are fine-grained work that XLA runs poorly on a CPU (10-30 ns per
neighbor entry, a serial scatter); here each is one pass of a loop.

Kernels are compiled by numba on first use and cached on disk (``cache=True``:
a campaign job loads them instead of compiling them again; numba keeps the
cache next to this file, or in ``NUMBA_CACHE_DIR`` or the user's cache
directory where that is read-only).

Conventions, shared with HOOMD-blue: positions and types come as HOOMD's
Scalar4 records ``(x, y, z, type)`` (the type as an int in the low bytes of
the 4th double: column 6 of the records seen as int32); a displacement is
:math:`\vec d_{ij} = \vec r_j - \vec r_i` wrapped by HOOMD's
``BoxDim::minImage``; the model's gradient :math:`\vec g = \partial E /
\partial \vec d` gives :math:`\vec F_i = \vec g`, :math:`\vec F_j = -\vec g`
and the pair virial :math:`-\vec d \otimes \vec g`, split equally between the
two particles, as are pair energies (HOOMD's own pair forces do the same).
Virials are stored in HOOMD's order ``xx, xy, xz, yy, yz, zz``.

Under MPI domain decomposition rows (the particles whose neighbors are listed)
are the rank's own ``n_local`` particles and neighbors may be ghosts (index
``>= n_local``). A pair with a ghost is held by both ranks, each giving the
force to its own particle (HOOMD's rule for half lists); a many-body model's
forces on ghosts are accumulated into ghost rows and sent home by the caller.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = [
    "accumulate_local",
    "accumulate_pairs",
    "box_array",
    "local_table",
    "neighbor_csr",
    "pair_csr",
    "pair_geometry",
]

TYPE_COLUMN = 6
"""int: Column of a particle's type id in HOOMD's Scalar4 records seen as int32 (little-endian)."""


def box_array(lx: float, ly: float, lz: float, xy: float, xz: float, yz: float) -> np.ndarray:
    """(9,) ``[Lx, Ly, Lz, xy, xz, yz, 1/Lx, 1/Ly, 1/Lz]`` (``1/Lz = 0`` in a 2D box), for the kernels."""
    inv_z = 1.0 / lz if lz > 0 else 0.0
    return np.array([lx, ly, lz, xy, xz, yz, 1.0 / lx, 1.0 / ly, inv_z], dtype=np.float64)


@njit(cache=True, nogil=True, inline="always")
def _min_image(dx, dy, dz, lx, ly, lz, xy, xz, yz, inv_x, inv_y, inv_z):
    """HOOMD's ``BoxDim::minImage`` for any (triclinic, 2D: ``inv_z = 0``) periodic box.

    The box comes as scalars, read once per kernel call: loop-invariant values in
    registers rather than loads from an array the compiler cannot prove unaliased.
    """
    if inv_z != 0.0:
        img = np.rint(dz * inv_z)
        dx -= lz * xz * img
        dy -= lz * yz * img
        dz -= lz * img
    img = np.rint(dy * inv_y)
    dx -= ly * xy * img
    dy -= ly * img
    dx -= lx * np.rint(dx * inv_x)
    return dx, dy, dz


# -- neighbor lists: HOOMD's list made compact once per build ---------------------------------


@njit(cache=True, nogil=True)
def pair_csr(head, n_neigh, nlist, n_rows):
    """Each pair of HOOMD's list once (``j > i``), as compact rows: (offsets, columns, with ghosts).

    Works on half storage (which holds each pair once) and full storage (both orders).
    Row ``i``'s candidates are ``columns[offsets[i]:offsets[i + 1]]``; ``with_ghost`` counts
    those that are ghosts (``>= n_rows``).
    """
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n_rows):
        start = head[i]
        c = 0
        for k in range(n_neigh[i]):
            if nlist[start + k] > i:
                c += 1
        counts[i + 1] = c
    offsets = np.cumsum(counts)
    columns = np.empty(offsets[n_rows], dtype=np.int32)
    with_ghost = 0
    for i in range(n_rows):
        start = head[i]
        s = offsets[i]
        for k in range(n_neigh[i]):
            j = nlist[start + k]
            if j > i:
                columns[s] = j
                s += 1
                if j >= n_rows:
                    with_ghost += 1
    return offsets, columns, with_ghost


@njit(cache=True, nogil=True)
def neighbor_csr(head, n_neigh, nlist, n_rows, half):
    """Every neighbor of each row (both orders of each pair) as compact rows: (offsets, columns).

    From a half list each pair is stored in both rows (a ghost neighbor has no row of
    its own); a full list is copied as it is.
    """
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n_rows):
        counts[i + 1] += n_neigh[i]
        if half:
            start = head[i]
            for k in range(n_neigh[i]):
                j = nlist[start + k]
                if j < n_rows:
                    counts[j + 1] += 1
    offsets = np.cumsum(counts)
    fill = offsets[:-1].copy()
    columns = np.empty(offsets[n_rows], dtype=np.int32)
    for i in range(n_rows):
        start = head[i]
        for k in range(n_neigh[i]):
            j = nlist[start + k]
            columns[fill[i]] = j
            fill[i] += 1
            if half and j < n_rows:
                columns[fill[j]] = i
                fill[j] += 1
    return offsets, columns


# -- pair models: each pair once ---------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _pair_rows(
    first, last, m, write, postype, types, offsets, columns, rcut2, box, d, t_i, t_j, p_j, row_end
):
    """Walk rows ``first:last`` from slot ``m``; return the slot after their last pair within cutoff.

    With ``write`` every candidate is written at slot ``m``, which advances only when it
    is within its cutoff: compaction without a branch (the next candidate overwrites
    one that is not; the slot after the last pair may hold a candidate beyond its
    cutoff). ``row_end[i]`` is the slot after row ``i``'s last pair. Serial: a
    count-then-write parallel version measured slower on two cores
    (``docs/benchmarks.md``).
    """
    last_slot = d.shape[0] - 1
    lx, ly, lz, xy, xz, yz, inv_x, inv_y, inv_z = (
        box[0],
        box[1],
        box[2],
        box[3],
        box[4],
        box[5],
        box[6],
        box[7],
        box[8],
    )
    for i in range(first, last):
        xi, yi, zi = postype[i, 0], postype[i, 1], postype[i, 2]
        ti = types[i]
        for s in range(offsets[i], offsets[i + 1]):
            j = columns[s]
            dx, dy, dz = _min_image(
                postype[j, 0] - xi,
                postype[j, 1] - yi,
                postype[j, 2] - zi,
                lx,
                ly,
                lz,
                xy,
                xz,
                yz,
                inv_x,
                inv_y,
                inv_z,
            )
            tj = types[j]
            if write:
                w = min(m, last_slot)
                d[w, 0] = dx
                d[w, 1] = dy
                d[w, 2] = dz
                t_i[w] = ti
                t_j[w] = tj
                p_j[w] = j
            m += dx * dx + dy * dy + dz * dz < rcut2[ti, tj]
        if write:
            row_end[i] = m
    return m


@njit(cache=True, nogil=True)
def pair_geometry(postype, types, offsets, columns, rcut2, box, d, t_i, t_j, p_j, row_end):
    """The pairs within cutoff, compacted: displacements, types and particles.

    Args:
        postype: (N, 4) float64 HOOMD records of every particle the list indexes.
        types: (N,) int32 type ids (a strided view of ``postype``).
        offsets: (R + 1,) start of each row's candidates in ``columns`` (`pair_csr`).
        columns: Candidate partners ``j > i`` of each row ``i``.
        rcut2: (T, T) squared cutoffs.
        box: `box_array` of the global box.
        d: (C, 3) displacements, in the model's dtype (written).
        t_i: (C,) int32 type of each pair's row particle (written).
        t_j: (C,) int32 type of each pair's partner (written).
        p_j: (C,) int32 index of each pair's partner (written).
        row_end: (R,) int64 slot after each row's last pair (written): row ``i``'s pairs
            are slots ``row_end[i - 1]:row_end[i]``.

    Returns:
        int: The number of pairs M. When ``M > C`` the buffers hold garbage: grow them
        to hold M and call again.
    """
    rows = offsets.shape[0] - 1
    return _pair_rows(
        0, rows, 0, True, postype, types, offsets, columns, rcut2, box, d, t_i, t_j, p_j, row_end
    )


@njit(cache=True, nogil=True)
def accumulate_pairs(out, d, p_j, row_end, n_local, force, virial, with_virial):
    r"""Add each pair's forces, half energies and half virials onto its particles.

    Row by row: a row particle's sums stay in registers, its partners' are added
    where they lie.

    Args:
        out: (C, 4) ``(gx, gy, gz, e)`` per pair from the model: :math:`\partial E/\partial \vec d`
            and the pair energy.
        d: (C, 3) the displacements the model saw.
        p_j: (C,) the pairs' partners; a partner ``>= n_local`` is a ghost (no force: its
            own rank computes the pair too).
        row_end: (R,) from `pair_geometry`.
        n_local: The rank's own particles.
        force: (n_local, 4) HOOMD's ``(fx, fy, fz, energy)`` records, added to.
        virial: (n_local, 6) HOOMD's per-particle virials, added to (with ``with_virial``).
        with_virial: Whether HOOMD asked for virials this step.

    Returns:
        bool: Whether every force, energy and virial of the local particles is finite.
    """
    start = 0
    for i in range(row_end.shape[0]):
        fx = fy = fz = energy = 0.0
        wxx = wxy = wxz = wyy = wyz = wzz = 0.0
        for k in range(start, row_end[i]):
            gx, gy, gz, e = out[k, 0], out[k, 1], out[k, 2], 0.5 * out[k, 3]
            j = p_j[k]
            fx += gx
            fy += gy
            fz += gz
            energy += e
            own_j = j < n_local
            if own_j:
                force[j, 0] -= gx
                force[j, 1] -= gy
                force[j, 2] -= gz
                force[j, 3] += e
            if with_virial:
                dx, dy, dz = -0.5 * d[k, 0], -0.5 * d[k, 1], -0.5 * d[k, 2]
                vxx, vxy, vxz, vyy, vyz, vzz = dx * gx, dx * gy, dx * gz, dy * gy, dy * gz, dz * gz
                wxx += vxx
                wxy += vxy
                wxz += vxz
                wyy += vyy
                wyz += vyz
                wzz += vzz
                if own_j:
                    virial[j, 0] += vxx
                    virial[j, 1] += vxy
                    virial[j, 2] += vxz
                    virial[j, 3] += vyy
                    virial[j, 4] += vyz
                    virial[j, 5] += vzz
        start = row_end[i]
        force[i, 0] += fx
        force[i, 1] += fy
        force[i, 2] += fz
        force[i, 3] += energy
        if with_virial:
            virial[i, 0] += wxx
            virial[i, 1] += wxy
            virial[i, 2] += wxz
            virial[i, 3] += wyy
            virial[i, 4] += wyz
            virial[i, 5] += wzz
    return _all_finite(force, virial, n_local, with_virial)


@njit(cache=True, nogil=True, inline="always")
def _all_finite(force, virial, rows, with_virial):
    total = 0.0
    for i in range(rows):
        total += force[i, 0] + force[i, 1] + force[i, 2] + force[i, 3]
        if with_virial:
            total += virial[i, 0] + virial[i, 1] + virial[i, 2] + virial[i, 3] + virial[i, 4] + virial[i, 5]
    return math.isfinite(total)  # NaN and inf (and inf - inf) all end non-finite


# -- local many-body models: every neighbor of every row ---------------------------------------


@njit(cache=True, nogil=True, parallel=True)
def local_table(postype, types, offsets, columns, n_rows, rcut2, box, r_fill, r, t_row, t_nb, index, mask):
    """The neighbor table of each row: displacements, types and mask, neighbors within cutoff first.

    Args:
        postype: (N, 4) float64 HOOMD records of every particle the list indexes.
        types: (N,) int32 type ids.
        offsets: (R + 1,) start of each row's neighbors in ``columns``.
        columns: Every neighbor of each row in the current list build (`neighbor_csr`).
        n_rows: Rows with neighbors (the rank's own particles); table rows past it are empty.
        rcut2: (T, T) squared cutoffs.
        box: `box_array`.
        r_fill: Length of the filler displacement ``(r_fill, 0, 0)`` in empty slots.
        r: (R, K, 3) displacements to neighbors, in the model's dtype (written).
        t_row: (R,) int32 type of each row's particle (written).
        t_nb: (R, K) int32 types of the neighbors (written; the row's own type in empty slots).
        index: (R, K) int32 particle index of each neighbor (the row itself in empty slots).
        mask: (R, K) bool, True for real neighbors within cutoff.

    Returns:
        int: The largest neighbor count of a row. When it exceeds K, rows were cut
        short: grow K and call again.
    """
    rows, width = index.shape
    widest = np.zeros(rows, dtype=np.int64)
    lx, ly, lz, xy, xz, yz, inv_x, inv_y, inv_z = (
        box[0],
        box[1],
        box[2],
        box[3],
        box[4],
        box[5],
        box[6],
        box[7],
        box[8],
    )
    for i in prange(rows):
        c = 0
        if i < n_rows:
            xi, yi, zi = postype[i, 0], postype[i, 1], postype[i, 2]
            ti = types[i]
            t_row[i] = ti
            for s in range(offsets[i], offsets[i + 1]):
                j = columns[s]
                dx, dy, dz = _min_image(
                    postype[j, 0] - xi, postype[j, 1] - yi, postype[j, 2] - zi,
                    lx, ly, lz, xy, xz, yz, inv_x, inv_y, inv_z,
                )  # fmt: skip
                tj = types[j]
                if dx * dx + dy * dy + dz * dz < rcut2[ti, tj]:
                    if c < width:
                        r[i, c, 0] = dx
                        r[i, c, 1] = dy
                        r[i, c, 2] = dz
                        t_nb[i, c] = tj
                        index[i, c] = j
                        mask[i, c] = True
                    c += 1
        else:
            t_row[i] = 0
        widest[i] = c
        for s in range(min(c, width), width):
            r[i, s, 0] = r_fill
            r[i, s, 1] = 0.0
            r[i, s, 2] = 0.0
            t_nb[i, s] = t_row[i]
            index[i, s] = i
            mask[i, s] = False
    return widest.max() if rows else 0


@njit(cache=True, nogil=True)
def accumulate_local(energy, grad, r, index, mask, n_local, n_rows, force, virial, with_virial):
    r"""Add a local model's per-particle energies and ``dE/dr_ik`` onto rows and neighbors.

    :math:`\vec F_i \mathrel{+}= \sum_k \vec g_{ik}`, :math:`\vec F_k \mathrel{-}= \vec g_{ik}`
    and the virial :math:`-\vec r_{ik} \otimes \vec g_{ik}` split between ``i`` and ``k``
    (DeePMD-kit's ``prod_force`` and ``prod_virial``).

    Args:
        energy: (R,) per-row energies (rows past ``n_local`` are ignored).
        grad: (R, K, 3) :math:`\partial E/\partial \vec r_{ik}`.
        r: (R, K, 3) the displacements the model saw.
        index: (R, K) particle index of each neighbor, from `local_table`.
        mask: (R, K) True for real neighbors, from `local_table`.
        n_local: The rank's own particles (their energies count).
        n_rows: Rows of ``force`` and ``virial``: ``n_local``, or local plus ghosts when
            forces on ghosts are to be sent home.
        force: (n_rows, 4) ``(fx, fy, fz, energy)``, added to.
        virial: (n_rows, 6), added to with ``with_virial``.
        with_virial: Whether HOOMD asked for virials this step.

    Returns:
        bool: Whether every result is finite.
    """
    width = index.shape[1]
    for i in range(n_local):
        force[i, 3] += energy[i]
        for c in range(width):
            if not mask[i, c]:
                continue
            k = index[i, c]
            gx, gy, gz = grad[i, c, 0], grad[i, c, 1], grad[i, c, 2]
            force[i, 0] += gx
            force[i, 1] += gy
            force[i, 2] += gz
            own_k = k < n_rows
            if own_k:
                force[k, 0] -= gx
                force[k, 1] -= gy
                force[k, 2] -= gz
            if with_virial:
                dx, dy, dz = -0.5 * r[i, c, 0], -0.5 * r[i, c, 1], -0.5 * r[i, c, 2]
                vxx, vxy, vxz, vyy, vyz, vzz = dx * gx, dx * gy, dx * gz, dy * gy, dy * gz, dz * gz
                virial[i, 0] += vxx
                virial[i, 1] += vxy
                virial[i, 2] += vxz
                virial[i, 3] += vyy
                virial[i, 4] += vyz
                virial[i, 5] += vzz
                if own_k:
                    virial[k, 0] += vxx
                    virial[k, 1] += vxy
                    virial[k, 2] += vxz
                    virial[k, 3] += vyy
                    virial[k, 4] += vyz
                    virial[k, 5] += vzz
    return _all_finite(force, virial, n_rows, with_virial)
