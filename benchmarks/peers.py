"""Peers of the environment benchmark: gymnasium vector envs (the project's own and
Reacher-v5), ``mujoco.rollout`` on the arm skeleton, MotorNet 0.3 (torch) and, when
``CALLOSUM_MOTORNET_TF_PYTHON`` names a Python with it, MotorNet 0.1.5 (TensorFlow).

Each ``bench_*`` function returns a JSON-ready dict; ``run_peers`` runs them all, each
guarded so that a missing peer is recorded with its reason instead of failing the run.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import envs
from benchmarks.timing import Logger, guard, rate, time_calls
from envs.config import ArmConfig
from envs.model import load_model

SYNC_NUM_ENVS = 64  # sub-environments of the Python-loop vector envs
REACHER_SINGLE_STEPS = 2000  # steps of the single-env Reacher loop (resets included)
MOTORNET_BPTT_BATCH = 64
MOTORNET_BPTT_STEPS = 50
MOTORNET_HIDDEN = 32
MOTORNET_TF_PYTHON = "CALLOSUM_MOTORNET_TF_PYTHON"
MOTORNET_TF_BATCHES = (64, 1024)
MOTORNET_TF_WORKER = Path(__file__).parent / "motornet_tf" / "worker.py"


def bench_gym_vector(env: Any, steps: int, repeats: int, seed: int) -> dict[str, Any]:
    """Steps/s of a gymnasium VectorEnv; one reset + step warm-up, each repeat reset untimed."""
    n = env.num_envs
    rng = np.random.default_rng(seed)
    low, high = env.single_action_space.low, env.single_action_space.high
    actions = rng.uniform(low, high, (steps, n, low.shape[0])).astype(np.float32)
    t0 = time.perf_counter()
    env.reset(seed=seed)
    env.step(actions[0])
    warmup_s = time.perf_counter() - t0
    counter = iter(range(10**9))

    def run() -> None:
        for t in range(steps):
            env.step(actions[t])

    timing = time_calls(run, repeats, setup=lambda: env.reset(seed=seed + next(counter)))
    env.close()
    return {"num_envs": n, "steps": steps, "first_reset_and_step_s": warmup_s, **timing,
            "ctrl_steps_per_s": rate(timing, n * steps), "resets_timed": False}


def bench_arm_sync(steps: int, repeats: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make_vec(envs.ENV_IDS["reach"], num_envs=SYNC_NUM_ENVS, vectorization_mode="sync")
    out = bench_gym_vector(env, steps, repeats, seed=0)
    n_sub = ArmConfig().n_substeps
    out.update(vector_env=type(env).__name__, backend="MuJoCo C (envs.ArmEnv)", n_substeps=n_sub,
               physics_steps_per_s=out["ctrl_steps_per_s"] * n_sub)
    return out


def bench_arm_jax_vector(num_envs: int, steps: int, repeats: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make_vec(envs.ENV_IDS["reach"], num_envs=num_envs)
    out = bench_gym_vector(env, steps, repeats, seed=0)
    n_sub = env.cfg.n_substeps
    out.update(vector_env=type(env).__name__, backend="JAX (envs.ArmVectorEnv)", n_substeps=n_sub,
               physics_steps_per_s=out["ctrl_steps_per_s"] * n_sub,
               note="first_reset_and_step_s includes jit compilation")
    return out


def bench_reacher_single(repeats: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make("Reacher-v5")
    actions = np.random.default_rng(0).uniform(-1, 1, (REACHER_SINGLE_STEPS, 2)).astype(np.float32)
    env.reset(seed=0)

    def run() -> None:
        for t in range(REACHER_SINGLE_STEPS):
            _, _, terminated, truncated, _ = env.step(actions[t])
            if terminated or truncated:
                env.reset()

    run()  # warm-up
    timing = time_calls(run, repeats)
    frame_skip = int(env.unwrapped.frame_skip)
    ctrl = rate(timing, REACHER_SINGLE_STEPS)
    env.close()
    return {"num_envs": 1, "steps": REACHER_SINGLE_STEPS, **timing, "ctrl_steps_per_s": ctrl,
            "frame_skip": frame_skip, "physics_steps_per_s": ctrl * frame_skip, "resets_timed": True}


def bench_reacher_sync(steps: int, repeats: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make_vec("Reacher-v5", num_envs=SYNC_NUM_ENVS, vectorization_mode="sync")
    frame_skip = int(env.envs[0].unwrapped.frame_skip)
    out = bench_gym_vector(env, steps, repeats, seed=0)
    out.update(vector_env=type(env).__name__, frame_skip=frame_skip,
               physics_steps_per_s=out["ctrl_steps_per_s"] * frame_skip)
    return out


def bench_mujoco_rollout(batch: int, steps: int, repeats: int, physics_dt: float) -> dict[str, Any]:
    """mujoco.rollout on the arm skeleton (nu=0), random qfrc_applied as the control."""
    import mujoco
    from mujoco import rollout

    model = load_model(physics_dt, ArmConfig().skeleton)
    nthread = 2
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS.value
    rng = np.random.default_rng(0)
    lo, hi = ArmConfig().skeleton.q_lower, ArmConfig().skeleton.q_upper
    initial = np.empty((batch, mujoco.mj_stateSize(model, spec)))
    for i in range(batch):
        datas[0].qpos[:] = rng.uniform(lo, hi)
        datas[0].qvel[:] = 0.0
        mujoco.mj_getState(model, datas[0], initial[i], spec)
    control = rng.normal(0.0, 2.0, (batch, steps, model.nv))  # N m, of muscle-torque order
    control_spec = mujoco.mjtState.mjSTATE_QFRC_APPLIED.value
    state = np.empty((batch, steps, initial.shape[1]))
    sensordata = np.empty((batch, steps, model.nsensordata))
    with rollout.Rollout(nthread=nthread) as pool:
        def run() -> None:
            pool.rollout(model, datas, initial, control, control_spec=control_spec,
                         state=state, sensordata=sensordata)

        run()  # warm-up
        timing = time_calls(run, repeats)
    return {
        "batch": batch, "steps": steps, "nthread": nthread, "nu": int(model.nu), "nv": int(model.nv),
        "physics_dt": physics_dt, "control_spec": "mjSTATE_QFRC_APPLIED (random, sd 2 N m)",
        **timing, "physics_steps_per_s": rate(timing, batch * steps),
        "states_finite": bool(np.all(np.isfinite(state))),
        "note": "skeleton only: no muscle model, no feedback or loss computation",
    }


def motornet_env(batch: int) -> Any:
    import motornet as mn

    effector = mn.effector.RigidTendonArm26(muscle=mn.muscle.RigidTendonHillMuscle())
    env = mn.environment.RandomTargetReach(effector=effector, max_ep_duration=0.5)
    env.reset(seed=0, options={"batch_size": batch})
    return env


def bench_motornet_rollout(batch: int, steps: int, repeats: int) -> dict[str, Any]:
    import torch

    env = motornet_env(batch)
    gen = torch.Generator().manual_seed(0)
    actions = torch.rand((steps, batch, env.n_muscles), generator=gen)

    def run() -> None:
        with torch.no_grad():
            for t in range(steps):
                env.step(actions[t])

    def setup() -> None:
        env.reset(options={"batch_size": batch})

    setup()
    run()  # warm-up
    timing = time_calls(run, repeats, setup=setup)
    return {
        "batch": batch, "steps": steps, "dt": float(env.dt),
        "n_ministeps": int(env.effector.n_ministeps), "integration": env.effector.integration_method,
        "torch_threads": torch.get_num_threads(), **timing, "ctrl_steps_per_s": rate(timing, batch * steps),
        "physics_steps_per_s": rate(timing, batch * steps * int(env.effector.n_ministeps)),
    }


def bench_motornet_bptt(repeats: int) -> dict[str, Any]:
    """One tutorial-style update: reset, 50-step GRU rollout, L1 loss, backward, Adam step."""
    import motornet as mn
    import torch

    batch, steps = MOTORNET_BPTT_BATCH, MOTORNET_BPTT_STEPS
    env = motornet_env(batch)
    policy_cls = getattr(mn.policy, "PolicyGRU", None)
    if policy_cls is None:
        raise RuntimeError("motornet.policy.PolicyGRU not found")
    policy = policy_cls(env.observation_space.shape[0], MOTORNET_HIDDEN, env.n_muscles, device="cpu")
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)

    def update() -> float:
        h = policy.init_hidden(batch)
        obs, info = env.reset(options={"batch_size": batch})
        xy, goal = [], []
        for _ in range(steps):
            action, h = policy(obs, h)
            obs, _, _, _, info = env.step(action=action)
            xy.append(info["states"]["fingertip"])
            goal.append(info["goal"])
        loss = torch.mean(torch.abs(torch.stack(xy, 1) - torch.stack(goal, 1)))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_norm=1.0)
        optimizer.step()
        return loss.item()

    update()  # warm-up
    timing = time_calls(update, repeats)
    return {"batch": batch, "steps": steps, "policy": f"{policy_cls.__name__}({MOTORNET_HIDDEN})",
            "optimizer": "Adam(lr=1e-3)", **timing, "s_per_update": timing["median_s"],
            "includes": "reset, policy forward, backward, grad clip, Adam step"}


def motornet_parity(physics_dt: float = 0.0005, steps: int = 50, seed: int = 0) -> dict[str, Any]:
    """Hand path of MotorNet's RigidTendonArm26 vs this project's arm, both at a fine
    ``physics_dt`` (where MotorNet's one-step force lag and Euler activation vanish), for
    the same start posture and smooth excitations. Checks our transcription of the plant."""
    import jax
    import jax.numpy as jnp
    import motornet as mn
    import torch

    sub = int(round(0.01 / physics_dt))
    rng = np.random.default_rng(seed)
    q0 = np.array([0.8, 1.3, 0.0, 0.0])
    acts = np.clip(0.2 + np.cumsum(rng.normal(0, 0.05, (steps, 6)), axis=0), 0.0, 0.6)
    effector = mn.effector.RigidTendonArm26(muscle=mn.muscle.RigidTendonHillMuscle(), timestep=physics_dt)
    effector.reset(options={"batch_size": 1, "joint_state": torch.tensor(q0[None], dtype=torch.float32)})
    theirs = []
    with torch.no_grad():
        for a in acts:
            for _ in range(sub):
                effector.step(torch.tensor(a[None], dtype=torch.float32))
            theirs.append(effector.states["fingertip"].numpy()[0])
    env = envs.make_functional("reach", n_substeps=sub)
    s0 = env.reset(jax.random.key(0), joint_state=q0, target=[0.0, 0.4])
    _, traj = jax.jit(env.rollout)(s0, jnp.asarray(acts, dtype=jnp.float32))
    ours = np.asarray(traj.hand, dtype=np.float64)
    err = np.linalg.norm(ours - np.asarray(theirs), axis=-1)
    return {"physics_dt": physics_dt, "steps": steps, "hand_travel_m": float(np.linalg.norm(ours[-1] - ours[0])),
            "max_hand_difference_m": float(err.max()), "final_hand_difference_m": float(err[-1])}


def _motornet_tf_inputs(batch: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Start joint states (B, 4), excitation random walks (B, T, 6), hold-task loads (B, 2)."""
    rng = np.random.default_rng(seed)
    sk = ArmConfig().skeleton
    q0 = rng.uniform(sk.q_lower + 0.1, sk.q_upper - 0.1, (batch, 2))
    walk = rng.uniform(0.0, 0.5, (batch, 1, 6)) + np.cumsum(rng.normal(0, 0.1, (batch, steps, 6)), 1)
    return {"joint0": np.concatenate([q0, np.zeros_like(q0)], 1).astype(np.float32),
            "excitation": np.clip(walk, 0.0, 1.0).astype(np.float32),
            "load": rng.uniform(-10, 10, (batch, 2)).astype(np.float32)}


def _jax_motornet_tf(inp: dict[str, np.ndarray], repeats: int) -> tuple[dict[str, Any], np.ndarray]:
    """Our ``plant=motornet_tf`` JAX rollout on ``inp``: timing and hand paths (B, T, 2)."""
    import jax
    import jax.numpy as jnp

    env = envs.make_functional("hold", plant="motornet_tf")

    def one(js: jax.Array, load: jax.Array, u: jax.Array) -> jax.Array:
        s0 = env.reset(jax.random.key(0), joint_state=js, load=load)
        return env.rollout(s0, u)[1].hand

    args = [jnp.asarray(inp[k]) for k in ("joint0", "load", "excitation")]
    fn = jax.jit(jax.vmap(one))
    hand = np.asarray(jax.block_until_ready(fn(*args)))  # compile + warm-up
    timing = time_calls(lambda: fn(*args), repeats)
    return timing, hand


def bench_motornet_tf(steps: int, repeats: int, batches: tuple[int, ...] = MOTORNET_TF_BATCHES
                      ) -> dict[str, Any]:
    """MotorNet 0.1.5's own plant (TensorFlow, graph mode, in the subprocess named by
    ``CALLOSUM_MOTORNET_TF_PYTHON``) against our ``plant=motornet_tf`` JAX rollout (reset
    included) on the same starts, loads and excitations: control steps/s of both, their
    ratio, and the largest hand-path difference."""
    python = os.environ.get(MOTORNET_TF_PYTHON)
    if not python:
        raise RuntimeError(f"{MOTORNET_TF_PYTHON} is not set (a Python with motornet==0.1.5, "
                           "see benchmarks/motornet_tf/requirements.txt); MotorNet-TF peer skipped")
    inputs = {b: _motornet_tf_inputs(b, steps, seed=b) for b in batches}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(src, **{f"{k}_{b}": v for b, inp in inputs.items() for k, v in inp.items()})
        run = subprocess.run([python, str(MOTORNET_TF_WORKER), str(src), str(dst), str(repeats)],
                             capture_output=True, text=True, timeout=1800)
        if run.returncode != 0:
            raise RuntimeError(f"MotorNet-TF worker failed: {run.stderr[-500:]}")
        with np.load(dst) as f:
            theirs = {k: f[k] for k in f.files}
    out: dict[str, Any] = {"versions": str(theirs["versions"]), "steps": steps,
                           "note": "MotorNet: tf.function over the whole rollout; ours: jit(vmap(reset+rollout))"}
    for b, inp in inputs.items():
        timing, hand = _jax_motornet_tf(inp, repeats)
        tf_timing = {"times_s": theirs[f"times_{b}"].tolist(),
                     "median_s": float(np.median(theirs[f"times_{b}"]))}
        ctrl, jax_ctrl = rate(tf_timing, b * steps), rate(timing, b * steps)
        diff = np.linalg.norm(hand - theirs[f"hand_{b}"], axis=-1)
        out[f"batch_{b}"] = {"batch": b, **tf_timing, "ctrl_steps_per_s": ctrl,
                             "jax_median_s": timing["median_s"], "jax_ctrl_steps_per_s": jax_ctrl,
                             "jax_over_motornet_tf": jax_ctrl / ctrl,
                             "max_hand_difference_m": float(diff.max())}
    return out


def run_peers(batch: int, steps: int, repeats: int, physics_dt: float, log: Logger) -> dict[str, Any]:
    return {
        "arm_sync_vector_env": guard("SyncVectorEnv(envs.ArmEnv)", log, bench_arm_sync, steps, repeats),
        "reacher_single": guard("Reacher-v5 single loop", log, bench_reacher_single, repeats),
        "reacher_sync_vector_env": guard("Reacher-v5 SyncVectorEnv", log, bench_reacher_sync, steps, repeats),
        "mujoco_rollout": guard("mujoco.rollout", log, bench_mujoco_rollout, batch, steps, repeats, physics_dt),
        "motornet_rollout": guard("MotorNet rollout", log, bench_motornet_rollout, batch, steps, repeats),
        "motornet_bptt": guard("MotorNet BPTT update", log, bench_motornet_bptt, repeats),
        "motornet_parity": guard("MotorNet parity (fine steps)", log, motornet_parity),
        "motornet_tf": guard("MotorNet 0.1.5 (TensorFlow) vs plant=motornet_tf", log, bench_motornet_tf,
                             steps, repeats),
    }
