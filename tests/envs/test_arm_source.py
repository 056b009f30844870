"""One source for the arm: an edited ``cfg.skeleton`` is followed by the MuJoCo model (C and
MJX), the kinematics, the joint limits and the closed-form dynamics, each checked against
MuJoCo's own computation on the compiled model."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs
from envs import dynamics, geometry
from envs.model import load_model, skeleton_from_model
from envs.params import SkeletonParams

EDITED = dataclasses.replace(SkeletonParams(), l1=0.35, l2=0.3, m2=2.0, i2=0.07, l2g=0.2, i1=0.04,
                             q_upper=np.array([2.0, 2.3]))
FIELDS = ("m1", "m2", "l1", "l2", "l1g", "l2g", "i1", "i2")


def test_default_skeleton_compiles_to_the_shipped_file() -> None:
    """SkeletonParams() written into the MJCF gives the file's model exactly (the file's
    joint ranges carry deg2rad(135), deg2rad(155) to all 17 digits)."""
    shipped, built = load_model(0.01), load_model(0.01, SkeletonParams())
    for name in ("body_mass", "body_pos", "body_ipos", "body_inertia", "body_iquat", "site_pos",
                 "jnt_range", "geom_pos", "geom_quat", "geom_size"):
        np.testing.assert_array_equal(getattr(built, name), getattr(shipped, name), err_msg=name)
    read, sk = skeleton_from_model(shipped), SkeletonParams()
    assert all(getattr(read, f) == getattr(sk, f) for f in FIELDS)
    np.testing.assert_array_equal(read.q_upper, sk.q_upper)
    np.testing.assert_array_equal(read.q_lower, sk.q_lower)


def test_edited_skeleton_is_written_into_the_model() -> None:
    m = load_model(0.01, EDITED)
    read = skeleton_from_model(m)
    for f in FIELDS:
        assert getattr(read, f) == pytest.approx(getattr(EDITED, f), rel=1e-12), f
    np.testing.assert_allclose(m.jnt_range, np.stack([EDITED.q_lower, EDITED.q_upper], 1), rtol=1e-15)
    # the bones (capsules from joint to segment end) follow the lengths; geoms add no mass
    capsules = m.geom_type == mujoco.mjtGeom.mjGEOM_CAPSULE
    np.testing.assert_allclose(2 * m.geom_size[capsules, 1], [EDITED.l1, EDITED.l2])
    np.testing.assert_allclose(m.geom_pos[capsules, 0], [EDITED.l1 / 2, EDITED.l2 / 2])
    assert m.body_mass[m.body("forearm").id] == EDITED.m2


def test_kinematics_and_mass_matrix_follow_the_edited_model(rng: np.random.Generator) -> None:
    env = envs.make_functional("reach", skeleton=EDITED)
    m = env.mj_model
    d = mujoco.MjData(m)
    full = np.zeros((2, 2))
    for _ in range(8):
        d.qpos[:] = rng.uniform(EDITED.q_lower, EDITED.q_upper)
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(geometry.hand_position(d.qpos, env.cfg.skeleton), d.site("hand").xpos[:2],
                                   atol=1e-12)
        mujoco.mj_fullM(m, d, full)
        with jax.enable_x64(True):
            m11, m12, m22 = (float(x) for x in dynamics.mass_matrix(jnp.asarray(d.qpos), env.cfg.skeleton))
        np.testing.assert_allclose([[m11, m12], [m12, m22]], full, rtol=1e-12)


@pytest.mark.parametrize("physics", ["closed_form", "mjx"])
def test_joint_limits_are_the_compiled_models_ranges(physics: str) -> None:
    """Flexors at full excitation drive both joints onto the edited upper stops, which are
    the compiled model's jnt_range, in the JAX env and the MuJoCo C env; a start beyond
    them is refused."""
    start, flex = [1.9, 2.2, 0.0, 0.0], np.tile([1.0, 0, 1, 0, 1, 0], (15, 1))
    with jax.enable_x64(True):
        env = envs.make_functional("hold", skeleton=EDITED, physics=physics)
        s0 = env.reset(jax.random.key(0), joint_state=start, load=[0.0, 0.0])
        q_jax = np.asarray(jax.jit(env.rollout)(s0, jnp.asarray(flex))[0].q)
    gym_env = envs.ArmEnv("hold", skeleton=EDITED)
    gym_env.reset(seed=0, options={"joint_state": start, "load": [0.0, 0.0]})
    for a in flex:
        gym_env.step(a)
    upper = gym_env.model.jnt_range[:, 1]
    np.testing.assert_array_equal(upper, env.mj_model.jnt_range[:, 1])
    np.testing.assert_allclose(q_jax, upper, rtol=0, atol=1e-15)
    np.testing.assert_allclose(gym_env.data.qpos, upper, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="outside its range"):
        gym_env.reset(seed=0, options={"joint_state": [2.1, 1.0]})


@pytest.mark.parametrize("physics", ["closed_form", "mjx"])
def test_one_step_equals_mujoco_c_on_the_edited_arm(physics: str) -> None:
    """Same start, load and action: one control step (3 substeps) of the JAX env equals
    the MuJoCo C env's, and differs from the default arm's. The start is exact in float32
    (the gym env draws its episode through JAX's default float32)."""
    start, target, load = [0.625, 1.25, 0.5, -1.0], [0.125, 0.4375], [4.0, -6.0]
    action = np.array([0.8, 0.1, 0.3, 0.6, 0.9, 0.2])
    settings = dict(skeleton=EDITED, n_substeps=3)
    gym_env = envs.ArmEnv("hold", **settings)
    gym_env.reset(seed=0, options={"joint_state": start, "target": target, "load": load})
    info = gym_env.step(action)[4]
    with jax.enable_x64(True):
        got, default = (
            jax.jit(e.step)(e.reset(jax.random.key(0), joint_state=start, target=target, load=load),
                            jnp.asarray(action))
            for e in (envs.make_functional("hold", physics=physics, **settings),
                      envs.make_functional("hold", physics=physics, n_substeps=3)))
    joint = np.asarray(envs.FunctionalArmEnv.joint_state(got))
    np.testing.assert_allclose(joint, info["joint_state"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(got.hand), info["hand_pos"], rtol=1e-10, atol=1e-12)
    assert np.abs(np.asarray(default.qd) - info["joint_state"][2:]).max() > 1e-3, "the edit should matter"
