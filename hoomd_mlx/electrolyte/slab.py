r"""The slab correction, with uniformly charged walls, as a TensorFlow many-body model.

PPPM sums Coulomb interactions over images in all three directions. For a slab
(periodic in x and y, bounded in z, centred on z = 0) in a box padded with vacuum
along z, the interaction between the slab's periodic images in z is removed, to
leading order, by the correction of Yeh & Berkowitz (J. Chem. Phys. 111, 3155
(1999)) in the form Ballenegger, Arnold & Cerda give for systems whose particles
carry a net charge Q (J. Chem. Phys. 131, 094107 (2009)):

.. math::

    E_\mathrm{slab} = \frac{2\pi}{V}\Big(M_z^2 - Q \sum_i q_i z_i^2\Big),
    \qquad M_z = \sum_i q_i z_i, \quad Q = \sum_i q_i,

in HOOMD's units, where two charges interact with :math:`q_i q_j / r`. Forces are
:math:`F_{z,i} = -\frac{4\pi}{V} q_i (M_z - Q z_i)`.

The :math:`Q` term is also exactly the field of two uniformly charged walls at
:math:`\pm Z/2` carrying :math:`-Q/2` each, relative to the uniform neutralising
background that PPPM implies for a charged system: so with the ions as the only
particles, this model *is* the charged walls (``walls="sheet"``). With the walls as
explicit point charges (``walls="mesh"``) the particles are neutral, :math:`Q = 0`,
and it reduces to Yeh-Berkowitz. HOOMD-blue has neither term; `SlabCorrection`
supplies them to `hoomd_mlx.TensorFlowForce` (``kind="many-body"``), which takes the
forces by automatic differentiation.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin.contract import ManyBodyInputs

__all__ = ["SlabCorrection", "slab_forces"]


class SlabCorrection(tf.Module):
    r"""Per-particle energies :math:`\frac{2\pi}{V} q_i z_i (M_z - Q z_i)`; their sum is the slab energy.

    ``V`` is the volume of the whole (padded) box and ``Q`` the particles' net
    charge, both read from the inputs each step. :math:`M_z` and :math:`Q` are
    totals over the whole system (`ManyBodyInputs.total`), so the model is exact
    under MPI domain decomposition; it needs no neighbors (``cutoff = 0``).
    """

    cutoff = 0.0
    """float: The range of the per-particle energies beyond the particle itself: none."""

    def __call__(self, inputs: ManyBodyInputs) -> tf.Tensor:
        """Return the (N,) per-particle slab-correction energies [energy]."""
        box = inputs.box
        volume = box[0] * box[1] * box[2]
        z = inputs.positions[:, 2]
        q = tf.cast(inputs.charges, z.dtype)
        dipole = inputs.total(q * z)
        net = inputs.total(q)
        return (2.0 * math.pi / volume) * q * z * (dipole - net * z)


def slab_forces(positions: np.ndarray, charges: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    r"""Reference forces (N, 3): :math:`F_{z,i} = -\frac{4\pi}{V} q_i (M_z - Q z_i)`, for checks."""
    volume = float(np.prod(box))
    z = positions[:, 2]
    forces = np.zeros_like(positions, dtype=np.float64)
    forces[:, 2] = -4.0 * math.pi / volume * charges * (np.sum(charges * z) - np.sum(charges) * z)
    return forces
