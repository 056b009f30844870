"""Physical constants of the arm: MotorNet's ``RigidTendonArm26`` (Nijhof & Kouwenhoven 2000).

Every number here is taken from MotorNet 0.3 (``motornet/effector.py``, ``skeleton.py``,
``muscle.py``). MotorNet 0.1.5 (TensorFlow), the plant of the bilateral-control paper's code
(Rinaldo et al. 2024), has the same numbers but for the passive slack length
(:meth:`MuscleParams.motornet_tf`). Units: m, kg, kg m^2, N, s, rad.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MUSCLE_NAMES: tuple[str, ...] = (
    "pectoralis",  # shoulder flexor
    "deltoid",  # shoulder extensor
    "brachioradialis",  # elbow flexor
    "tricepslat",  # elbow extensor
    "biceps",  # biarticular flexor
    "tricepslong",  # biarticular extensor
)
N_MUSCLES = len(MUSCLE_NAMES)
JOINT_NAMES: tuple[str, ...] = ("shoulder", "elbow")


def _arr(*values: float) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SkeletonParams:
    """Two-link planar arm without gravity (MotorNet ``TwoDofArm`` as built by ``RigidTendonArm26``)."""

    m1: float = 1.82  # upper-arm mass (kg)
    m2: float = 1.43  # forearm mass (kg)
    l1: float = 0.309  # upper-arm length (m)
    l2: float = 0.333  # forearm length (m)
    l1g: float = 0.135  # shoulder -> upper-arm centre of mass (m)
    l2g: float = 0.165  # elbow -> forearm centre of mass (m)
    i1: float = 0.051  # upper-arm inertia about its centre of mass (kg m^2)
    i2: float = 0.057  # forearm inertia about its centre of mass (kg m^2)
    q_lower: np.ndarray = field(default_factory=lambda: _arr(0.0, 0.0))  # rad
    q_upper: np.ndarray = field(default_factory=lambda: _arr(np.deg2rad(135.0), np.deg2rad(155.0)))


@dataclass(frozen=True)
class MuscleParams:
    """Six rigid-tendon Hill muscles (MotorNet ``RigidTendonHillMuscle``, Kistemaker et al. 2010).

    Moment arms and musculotendon lengths are MotorNet's polynomial fit: with
    ``dq = q - a3`` (per joint), ``moment_arm = a1 + 2 a2 dq`` and
    ``L_mt = a0 + sum_joints (a1 + a2 dq) dq``. Arrays over joints are (2, 6).
    """

    max_isometric_force: np.ndarray = field(
        default_factory=lambda: _arr(838.0, 1207.0, 1422.0, 1549.0, 414.0, 603.0)
    )
    tendon_length: np.ndarray = field(
        default_factory=lambda: _arr(0.039, 0.066, 0.172, 0.187, 0.204, 0.217)
    )
    optimal_length: np.ndarray = field(
        default_factory=lambda: _arr(0.134, 0.140, 0.092, 0.093, 0.137, 0.127)
    )
    normalized_slack_length: float = 1.4
    a0: np.ndarray = field(
        default_factory=lambda: _arr(0.151, 0.2322, 0.2859, 0.2355, 0.3329, 0.2989)
    )
    a1: np.ndarray = field(
        default_factory=lambda: np.array(
            [[-0.03, 0.03, 0.0, 0.0, -0.03, 0.03], [0.0, 0.0, -0.014, 0.025, -0.016, 0.03]]
        )
    )
    a2: np.ndarray = field(
        default_factory=lambda: np.array(
            [[0.0] * 6, [0.0, 0.0, -4e-3, -2.2e-3, -5.7e-3, -3.2e-3]]
        )
    )
    a3: np.ndarray = field(default_factory=lambda: _arr(np.pi / 2, 0.0))
    min_activation: float = 0.001
    tau_activation: float = 0.015  # s
    tau_deactivation: float = 0.05  # s

    @classmethod
    def motornet_tf(cls) -> MuscleParams:
        """MotorNet 0.1.5's (TensorFlow) muscles: as 0.3's but with the passive element's
        normalised slack length at its default 1.0 (``RigidTendonArm26`` passes no other)."""
        return cls(normalized_slack_length=1.0)

    @property
    def slack_length(self) -> np.ndarray:
        """Muscle length where passive force starts (m), (6,)."""
        return self.normalized_slack_length * self.optimal_length

    @property
    def k_pe(self) -> float:
        """Passive-element stiffness (normalised)."""
        return 1.0 / (1.66 - self.normalized_slack_length) ** 2

    @property
    def max_velocity(self) -> np.ndarray:
        """Maximal shortening velocity, 10 optimal lengths per second (m/s), (6,)."""
        return 10.0 * self.optimal_length
