"""The MJCF skeleton and the analytic geometry against each other and against closed forms."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from envs import geometry
from envs.model import load_model
from envs.params import MuscleParams, SkeletonParams

SK = SkeletonParams()


def closed_form_mass_matrix(q: np.ndarray, p: SkeletonParams) -> np.ndarray:
    """Two-link planar arm inertia matrix (MotorNet TwoDofArm / textbook form)."""
    c2 = np.cos(q[1])
    m11 = p.m1 * p.l1g**2 + p.i1 + p.m2 * (p.l2g**2 + p.l1**2) + p.i2 + 2 * p.m2 * p.l1 * p.l2g * c2
    m12 = p.m2 * p.l2g**2 + p.i2 + p.m2 * p.l1 * p.l2g * c2
    m22 = p.m2 * p.l2g**2 + p.i2
    return np.array([[m11, m12], [m12, m22]])


def closed_form_bias(q: np.ndarray, qd: np.ndarray, p: SkeletonParams) -> np.ndarray:
    """Coriolis/centrifugal torques of the two-link arm (MotorNet's ``coriolis_1/2``)."""
    h = p.m2 * p.l1 * p.l2g * np.sin(q[1])
    return np.array([-h * (2 * qd[0] + qd[1]) * qd[1], h * qd[0] ** 2])


def test_mjcf_matches_parameters() -> None:
    m = load_model(0.01)
    upper, fore = m.body("upper_arm"), m.body("forearm")
    assert upper.mass[0] == pytest.approx(SK.m1) and fore.mass[0] == pytest.approx(SK.m2)
    assert upper.ipos[0] == pytest.approx(SK.l1g) and fore.ipos[0] == pytest.approx(SK.l2g)
    assert upper.inertia[2] == pytest.approx(SK.i1) and fore.inertia[2] == pytest.approx(SK.i2)
    assert fore.pos[0] == pytest.approx(SK.l1)
    assert m.site("hand").pos[0] == pytest.approx(SK.l2)
    np.testing.assert_allclose(m.jnt_range[:, 0], SK.q_lower)
    np.testing.assert_allclose(m.jnt_range[:, 1], SK.q_upper)
    assert np.all(m.opt.gravity == 0)
    assert m.opt.timestep == pytest.approx(0.01)


def test_mass_matrix_and_bias_match_closed_form(rng: np.random.Generator) -> None:
    m = load_model(0.01)
    d = mujoco.MjData(m)
    for _ in range(10):
        d.qpos[:] = rng.uniform(SK.q_lower, SK.q_upper)
        d.qvel[:] = rng.normal(size=2) * 3
        mujoco.mj_forward(m, d)
        full = np.zeros((2, 2))
        mujoco.mj_fullM(m, d, full)
        np.testing.assert_allclose(full, closed_form_mass_matrix(d.qpos, SK), rtol=1e-10)
        np.testing.assert_allclose(d.qfrc_bias, closed_form_bias(d.qpos, d.qvel, SK), atol=1e-10)


def test_hand_kinematics_match_mujoco(rng: np.random.Generator) -> None:
    m = load_model(0.01)
    d = mujoco.MjData(m)
    jacp = np.zeros((3, 2))
    for _ in range(10):
        d.qpos[:] = rng.uniform(SK.q_lower, SK.q_upper)
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(geometry.hand_position(d.qpos, SK), d.site("hand").xpos[:2], atol=1e-12)
        mujoco.mj_jacSite(m, d, jacp, None, m.site("hand").id)
        np.testing.assert_allclose(geometry.hand_jacobian(d.qpos, SK), jacp[:2], atol=1e-12)


def test_moment_arms_are_length_derivatives(rng: np.random.Generator) -> None:
    mp = MuscleParams()
    q = rng.uniform(SK.q_lower, SK.q_upper, size=(5, 2))
    eps = 1e-6
    for j in range(2):
        dq = np.zeros(2)
        dq[j] = eps
        fd = (geometry.musculotendon_length(q + dq, mp) - geometry.musculotendon_length(q - dq, mp)) / (2 * eps)
        np.testing.assert_allclose(geometry.moment_arms(q, mp)[:, j, :], fd, atol=1e-8)


def test_muscle_roles_follow_moment_arm_signs() -> None:
    """Flexors shorten when their joint flexes (negative moment arm), extensors lengthen."""
    r = geometry.moment_arms(np.deg2rad([45.0, 90.0]), MuscleParams())
    shoulder, elbow = r[0], r[1]
    assert shoulder[0] < 0 < shoulder[1]  # pectoralis flexes, deltoid extends the shoulder
    assert elbow[2] < 0 < elbow[3]  # brachioradialis flexes, triceps lateral extends the elbow
    assert shoulder[4] < 0 and elbow[4] < 0  # biceps flexes both
    assert shoulder[5] > 0 and elbow[5] > 0  # triceps long extends both
    assert shoulder[2] == shoulder[3] == 0  # monoarticular elbow muscles
