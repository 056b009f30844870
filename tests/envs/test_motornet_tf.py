"""``plant="motornet_tf"`` against MotorNet 0.1.5 (TensorFlow) itself, MuJoCo C against JAX,
gradients against finite differences.

The reference trajectories in ``data/motornet_tf_reference.npz`` were written by MotorNet
0.1.5's own plant (``data/make_motornet_tf_reference.py``). Set ``CALLOSUM_MOTORNET_TF_PYTHON``
to a Python with ``motornet==0.1.5`` (``benchmarks/motornet_tf/requirements.txt``) to also
regenerate them live and compare.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from omegaconf import OmegaConf

import envs
from envs import motornet_tf
from envs.config import PLANTS, ArmConfig
from envs.params import MuscleParams
from tests.envs.helpers import assert_directional_derivatives

DATA = Path(__file__).with_name("data")
REFERENCE = DATA / "motornet_tf_reference.npz"
GENERATOR = DATA / "make_motornet_tf_reference.py"
PYTHON_VAR = "CALLOSUM_MOTORNET_TF_PYTHON"


def load(path: Path = REFERENCE) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def jax_rollout(ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our JAX env (``plant=motornet_tf``) on the reference's starts, loads and excitations,
    in the current default float type."""
    env = envs.make_functional("hold", plant="motornet_tf")
    dtype = jnp.result_type(float)

    def one(js: jax.Array, load: jax.Array, u: jax.Array) -> tuple[jax.Array, ...]:
        s0 = env.reset(jax.random.key(0), joint_state=js, load=load)
        _, traj = env.rollout(s0, u)
        return env.muscle_state(s0), env.joint_state(traj), traj.hand, env.muscle_state(traj)

    args = (jnp.asarray(ref[k], dtype) for k in ("joint0", "load", "excitation"))
    out = jax.jit(jax.vmap(one))(*args)
    return dict(zip(("muscle0", "joint", "hand", "muscle"), map(np.asarray, out)))


def gym_rollout(ref: dict[str, np.ndarray], episode: int) -> dict[str, np.ndarray]:
    """The MuJoCo C env (float64) on one reference episode."""
    env = envs.ArmEnv("hold", plant="motornet_tf")
    env.reset(seed=0, options={"joint_state": ref["joint0"][episode].astype(float),
                               "load": ref["load"][episode].astype(float)})
    muscle0 = env.muscle_state
    joint, hand, muscle = [], [], []
    for u in ref["excitation"][episode]:
        info = env.step(u)[4]
        joint.append(info["joint_state"])
        hand.append(info["hand_pos"])
        muscle.append(env.muscle_state)
    return {"muscle0": muscle0, "joint": np.array(joint), "hand": np.array(hand),
            "muscle": np.array(muscle)}


def assert_matches_motornet(got: dict[str, np.ndarray], ref: dict[str, np.ndarray],
                            episodes: slice = slice(None)) -> None:
    """Hand path within 5 um, joint angles within 1e-5 rad, velocities within 1e-4 rad/s,
    every muscle-state entry within 0.1 % (relative to its row's scale beyond 1e-5)."""
    joint, hand = ref["joint"][episodes], ref["cartesian"][episodes, ..., :2]
    assert np.linalg.norm(got["hand"] - hand, axis=-1).max() < 5e-6
    np.testing.assert_allclose(got["joint"][..., :2], joint[..., :2], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["joint"][..., 2:], joint[..., 2:], rtol=0, atol=1e-4)
    for name in ("muscle0", "muscle"):
        want = ref[name][episodes]
        scale = np.abs(want).max(axis=tuple(i for i in range(want.ndim) if i != want.ndim - 2))
        err = np.abs(got[name] - want)
        bound = 1e-3 * np.abs(want) + 1e-5 * scale[:, None]
        assert np.all(err <= bound), (name, (err / bound).max(axis=-1))


def test_reference_exercises_limits_loads_and_saturation() -> None:
    ref = load()
    assert ref["joint"].shape == (8, 50, 4) and ref["muscle"].shape == (8, 50, 7, 6)
    q = ref["joint"][..., :2]
    upper = np.deg2rad([135.0, 155.0]).astype(np.float32)
    assert np.any(q == 0.0) and np.any(q == upper[1]), "some episode should sit on a stop"
    assert np.count_nonzero(np.any(ref["load"] != 0, axis=1)) >= 3
    assert np.any(ref["muscle"][:, 0, 0] == 1.0), "one step from rest saturates activation"


def test_jax_env_reproduces_motornet_tf_float32() -> None:
    ref = load()
    assert_matches_motornet(jax_rollout(ref), ref)


def test_jax_env_reproduces_motornet_tf_float64() -> None:
    ref = load()
    with jax.enable_x64(True):
        got = jax_rollout(ref)
    assert got["joint"].dtype == np.float64
    assert_matches_motornet(got, ref)


@pytest.mark.parametrize("episode", [3, 4, 6])  # upper stops, lower stops, under load
def test_mujoco_env_reproduces_motornet_tf(episode: int) -> None:
    ref = load()
    got = gym_rollout(ref, episode)
    assert_matches_motornet({k: v[None] for k, v in got.items()}, ref, slice(episode, episode + 1))


def test_live_motornet_tf_regenerates_the_reference(tmp_path: Path) -> None:
    python = os.environ.get(PYTHON_VAR)
    if not python:
        pytest.skip(f"{PYTHON_VAR} is not set: compared with the stored MotorNet 0.1.5 output only "
                    "(set it to a Python with motornet==0.1.5, see benchmarks/motornet_tf/requirements.txt)")
    out = tmp_path / "live.npz"
    run = subprocess.run([python, str(GENERATOR), str(out)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    live, stored = load(out), load()
    assert str(live["versions"]).startswith("motornet 0.1.5")
    for name in ("joint0", "excitation", "load"):
        np.testing.assert_array_equal(live[name], stored[name])
    for name in ("muscle0", "joint", "cartesian", "muscle"):
        np.testing.assert_allclose(live[name], stored[name], rtol=1e-5, atol=1e-5)
    assert_matches_motornet(jax_rollout(live), live)


def actions(seed: int, steps: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.3 + np.cumsum(rng.normal(0, 0.12, (steps, 6)), axis=0), 0, 1)


@pytest.mark.parametrize("n_substeps", [1, 2])
def test_mujoco_and_jax_faces_agree(n_substeps: int) -> None:
    # float32-exact start: the gym env draws its episode in JAX's default float32
    acts, start, load_ = actions(1), [0.625, 1.5, 0.25, -0.125], [6.0, -4.0]
    settings = {"plant": "motornet_tf", "n_substeps": n_substeps}
    gym_env = envs.ArmEnv("hold", **settings)
    gym_env.reset(seed=0, options={"joint_state": start, "load": load_})
    steps = [gym_env.step(a) for a in acts]
    c_hand = np.array([s[4]["hand_pos"] for s in steps])
    c_obs = np.array([s[0] for s in steps])
    with jax.enable_x64(True):
        env = envs.make_functional("hold", **settings)
        s0 = env.reset(jax.random.key(0), joint_state=start, load=load_)
        _, traj = jax.jit(env.rollout)(s0, jnp.asarray(acts))
        j_hand, j_obs = np.asarray(traj.hand), np.asarray(traj.obs, np.float32)
    assert np.linalg.norm(c_hand[-1] - c_hand[0]) > 0.05, "the arm should really move"
    np.testing.assert_allclose(j_hand, c_hand, rtol=0, atol=1e-9)
    np.testing.assert_allclose(j_obs, c_obs, rtol=1e-5, atol=1e-6)  # float32 obs: 1 ulp


def test_gradient_matches_finite_differences() -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("hold", plant="motornet_tf")
        s0 = env.reset(jax.random.key(7), joint_state=[0.8, 1.2], load=[3.0, -5.0])
        rng = np.random.default_rng(0)
        acts = jnp.asarray(rng.uniform(0.1, 0.5, (50, 6)))

        def loss(a: jax.Array) -> jax.Array:
            _, traj = env.rollout(s0, a)
            force = env.muscle_state(traj)[:, -1]
            return (jnp.mean(traj.metrics["position_error"]) + 0.1 * jnp.mean(traj.metrics["effort"])
                    + 1e-6 * jnp.mean(force**2))

        grad = jax.jit(jax.grad(loss))(acts)
        assert np.all(np.isfinite(np.asarray(grad))) and np.abs(np.asarray(grad)).max() > 0
        assert_directional_derivatives(jax.jit(loss), grad, acts, rng, eps=1e-6, rtol=1e-4)


def test_muscle_and_joint_state_layout_under_jit_and_vmap() -> None:
    env = envs.make_functional("reach", plant="motornet_tf")
    keys = jax.random.split(jax.random.key(0), 3)
    s0 = jax.vmap(env.reset)(keys)
    _, traj = jax.jit(jax.vmap(env.rollout))(s0, jnp.full((3, 5, 6), 0.4))
    ms = jax.jit(env.muscle_state)(traj)
    assert ms.shape == (3, 5, 7, 6) and env.joint_state(traj).shape == (3, 5, 4)
    assert len(motornet_tf.MUSCLE_STATE_NAMES) == 7
    # The force row is what the next step applies: recompute it from its parts.
    fmax = env.cfg.muscles.max_isometric_force
    np.testing.assert_allclose(ms[..., 6, :], (ms[..., 5, :] + ms[..., 3, :]) * fmax, rtol=1e-5)
    # Muscle length and velocity lag the skeleton by one step (MotorNet 0.1.5's order).
    geo = motornet_tf.geometry_state(env.joint_state(traj), env.cfg, jnp)
    assert geo.shape == (3, 5, 4, 6)
    lengths = np.asarray(geo[:, :-1, 0] - env.cfg.muscles.tendon_length)
    np.testing.assert_allclose(ms[:, 1:, 1], lengths, rtol=1e-5, atol=1e-7)
    cart = motornet_tf.cartesian_state(env.joint_state(traj), env.cfg, jnp)
    np.testing.assert_allclose(cart[..., :2], traj.hand, rtol=1e-6)


def test_plant_setting_is_validated_and_defaults_are_unchanged() -> None:
    assert PLANTS == ("motornet", "motornet_tf")
    with pytest.raises(ValueError, match="motornet, motornet_tf"):
        ArmConfig(plant="motornet_torch")
    default = ArmConfig()
    assert default.plant == "motornet"
    assert default.muscles.normalized_slack_length == MuscleParams().normalized_slack_length == 1.4
    assert ArmConfig(plant="motornet_tf").muscles.normalized_slack_length == 1.0
    custom = MuscleParams(normalized_slack_length=1.2)
    assert ArmConfig(plant="motornet_tf", muscles=custom).muscles is custom


def test_arm_presets_build_their_plants() -> None:
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        for name, plant, delay in (("default", "motornet", 0.01), ("motornet_tf", "motornet_tf", 0.0)):
            arm = OmegaConf.to_object(compose(config_name="config", overrides=[f"arm={name}"]).arm).library()
            assert (arm.plant, arm.feedback_delay) == (plant, delay)
