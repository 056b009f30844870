"""Environment benchmark: the batched JAX arm against its peers, on one machine, in one run.

``run_benchmark(...)`` measures, each after a warm-up (compile times reported apart), the
median of ``repeats`` timed calls (all times are kept in the result):

1. the pure JAX env (``envs.make_functional("reach")``): ``jit(vmap(rollout))`` at
   ``batch`` x ``steps`` control steps, smooth random excitations; the same with the
   skeleton stepped by ``mjx.step`` (``physics="mjx"``), with the hand-path difference;
2. one BPTT gradient (``jit(grad)``) of the mean final + running hand-target distance over
   a ``steps``-step rollout w.r.t. the excitations, batch ``grad_batch``;
3. gymnasium vector envs of the arm: ``SyncVectorEnv`` of the MuJoCo C ``envs.ArmEnv``
   (``make_vec(..., vectorization_mode="sync")``) and the project's JAX-backed
   ``make_vec`` (``envs.ArmVectorEnv``), numpy in and out;
4. gymnasium ``Reacher-v5``: a single-env Python loop and ``SyncVectorEnv(64)``;
5. ``mujoco.rollout`` (MuJoCo C, 2 threads) on the arm skeleton with random
   ``qfrc_applied``: the skeleton-only reference limit;
6. MotorNet 0.3 (torch CPU): ``RigidTendonArm26`` in ``RandomTargetReach``, rollout under
   ``no_grad`` and one BPTT update of a 32-unit GRU policy with Adam; and the hand-path
   difference between MotorNet's arm and ours at a fine time step (model parity); when
   ``CALLOSUM_MOTORNET_TF_PYTHON`` is set, MotorNet 0.1.5's (TensorFlow) plant in a
   subprocess against our ``plant=motornet_tf`` at batch 64 and 1024 (control steps/s,
   ratio, max hand-path difference on the same excitations);
7. one training update (``agents.Trainer.update``: closed-loop BPTT through the arm,
   gradient routing where specialised, Adam) of the default controllers (64 x 64 per
   hemisphere, paper callosum) at batch ``grad_batch`` x ``steps``, against MotorNet's
   update (6.);
8. hand-trajectory error of the default ``n_substeps`` (and of 2 and 4) against a
   fine-step reference (20 substeps), same starts and excitations, float32.

``peers=False`` skips the non-JAX measurements of 3-6 (the JAX-backed ``make_vec`` and
the accuracy study are kept). Each peer runs under ``try``/``except``; a failure is recorded
with its reason. ``format_table(result)`` renders the result as plain text.

Run it as ``python -m benchmarks envs`` (settings: the fields of :class:`Settings`, e.g.
``batch=256``; the command also sets JAX's CPU flags, see ``experiments.runtime``); it
prints the table and writes ``bench_envs.json``.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import envs
from benchmarks.peers import SYNC_NUM_ENVS, bench_arm_jax_vector, run_peers
from benchmarks.timing import (
    Logger,
    cpu_snapshot,
    finite_or_none,
    fmt,
    grid,
    guard,
    interference,
    interference_line,
    machine,
    make_logger,
    rate,
    time_calls,
    versions,
)
from envs.config import ArmConfig
from envs.functional import ArmState, FunctionalArmEnv

REFERENCE_SUBSTEPS = 20
TRADEOFF_SUBSTEPS = (2, 4)
WALK_SD = 0.1  # excitation random-walk increment per control step
TARGETS: dict[str, tuple[str, str, float]] = {
    # ratio name: (numerator path, denominator path, target)
    "jax_ctrl_vs_motornet_ctrl": ("jax_env.ctrl_steps_per_s", "peers.motornet_rollout.ctrl_steps_per_s", 3.0),
    "jax_vector_env_vs_motornet_step_loop": ("jax_vector_env.arm_jax_vector_env_batch.ctrl_steps_per_s",
                                             "peers.motornet_rollout.ctrl_steps_per_s", 3.0),
    "jax_physics_vs_mujoco_rollout_physics": (
        "jax_env.physics_steps_per_s", "peers.mujoco_rollout.physics_steps_per_s", 1.5),
    # the default closed-form skeleton step over mjx.step (arm.physics=mjx), same run
    "closed_form_vs_mjx_step_rollout": ("jax_env.ctrl_steps_per_s", "jax_env_mjx.ctrl_steps_per_s", 1.0),
    "jax_ctrl_vs_arm_sync_vector_env": (
        "jax_env.ctrl_steps_per_s", "peers.arm_sync_vector_env.ctrl_steps_per_s", 20.0),
    # seconds per training update: MotorNet's over ours (so > 1 means ours is faster)
    "motornet_update_vs_bilateral_specialised_update": (
        "peers.motornet_bptt.s_per_update", "training.bilateral_specialised_cc.s_per_update", 10.0),
    "motornet_update_vs_bilateral_unspecialised_update": (
        "peers.motornet_bptt.s_per_update", "training.bilateral_unspecialised_cc.s_per_update", 10.0),
    # our plant=motornet_tf JAX rollout vs MotorNet 0.1.5's own (TensorFlow) plant
    "jax_tf_plant_vs_motornet_tf_b64": ("peers.motornet_tf.batch_64.jax_ctrl_steps_per_s",
                                        "peers.motornet_tf.batch_64.ctrl_steps_per_s", 1.5),
    "jax_tf_plant_vs_motornet_tf_b1024": ("peers.motornet_tf.batch_1024.jax_ctrl_steps_per_s",
                                          "peers.motornet_tf.batch_1024.ctrl_steps_per_s", 1.5),
}
TRAINING_VARIANTS = ("bilateral_specialised_cc", "bilateral_unspecialised_cc", "unilateral_unspecialised")
DIST_NAMES = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "gymnasium", "torch", "motornet", "numpy", "flax")

# -- small helpers -----------------------------------------------------------------------
def _walks(rng: np.random.Generator, batch: int, steps: int) -> np.ndarray:
    """Smooth random excitations (batch, steps, 6): random walks clipped to [0, 1], float32."""
    u = rng.uniform(0.0, 0.5, (batch, 6))
    out = np.empty((batch, steps, 6), np.float32)
    for t in range(steps):
        u = np.clip(u + WALK_SD * rng.standard_normal((batch, 6)), 0.0, 1.0)
        out[:, t] = u
    return out


def _inputs(batch: int, steps: int, seed: int) -> dict[str, jax.Array]:
    """Episode keys, start postures, targets (drawn by the reach task) and excitations."""
    keys = jax.random.split(jax.random.key(seed), batch)
    drawn = jax.jit(jax.vmap(envs.make_functional("reach").reset))(keys)
    actions = _walks(np.random.default_rng(seed), batch, steps)
    return {"keys": keys, "q0": drawn.q, "target": drawn.target, "actions": jnp.asarray(actions)}


def _start_states(env: FunctionalArmEnv, inp: dict[str, jax.Array]) -> ArmState:
    def reset(key: jax.Array, q: jax.Array, target: jax.Array) -> ArmState:
        return env.reset(key, joint_state=q, target=target)

    return jax.jit(jax.vmap(reset))(inp["keys"], inp["q0"], inp["target"])


def _get(result: dict[str, Any], path: str) -> Any:
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- JAX measurements ----------------------------------------------------------------------
def _bench_jax_rollout(
    env: FunctionalArmEnv, inp: dict[str, jax.Array], repeats: int, devices: list[Any] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """jit(vmap(rollout)) throughput; also returns the trajectories of ``hand``, ``q``, ``qd``
    (batch, steps, 2). ``devices``: split the batch over these (XLA partitions the program)."""
    state0 = jax.block_until_ready(_start_states(env, inp))
    actions = inp["actions"]
    if devices is not None:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        split = NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec("batch"))
        state0, actions = jax.device_put(state0, split), jax.device_put(actions, split)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(env.rollout)).lower(state0, actions).compile()
    compile_s = time.perf_counter() - t0
    _, traj = jax.block_until_ready(compiled(state0, actions))  # warm-up
    timing = time_calls(lambda: compiled(state0, actions), repeats)
    batch, steps = actions.shape[:2]
    ctrl = rate(timing, batch * steps)
    record = {
        "batch": int(batch), "steps": int(steps), "n_substeps": env.cfg.n_substeps,
        "physics_dt": env.cfg.physics_dt, "control_dt": env.cfg.control_dt,
        "dtype": str(state0.q.dtype), "compile_s": compile_s, "devices": len(devices or [None]), **timing,
        "ctrl_steps_per_s": ctrl, "physics_steps_per_s": ctrl * env.cfg.n_substeps,
    }
    return record, {k: np.asarray(getattr(traj, k)) for k in ("hand", "q", "qd")}


def _bench_jax_grad(grad_batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """Seconds per jit(grad) of the mean final + running position error w.r.t. the actions."""
    env = envs.make_functional("reach")
    inp = _inputs(grad_batch, steps, seed=1)
    state0 = _start_states(env, inp)

    def loss(actions: jax.Array) -> jax.Array:
        final, traj = jax.vmap(env.rollout)(state0, actions)
        return jnp.mean(final.metrics["position_error"]) + jnp.mean(traj.metrics["position_error"])

    t0 = time.perf_counter()
    compiled = jax.jit(jax.grad(loss)).lower(inp["actions"]).compile()
    compile_s = time.perf_counter() - t0
    grad = jax.block_until_ready(compiled(inp["actions"]))
    timing = time_calls(lambda: compiled(inp["actions"]), repeats)
    return {
        "batch": grad_batch, "steps": steps, "action_shape": list(inp["actions"].shape),
        "n_substeps": env.cfg.n_substeps, "compile_s": compile_s, **timing,
        "s_per_gradient": timing["median_s"],
        "grad_finite": bool(jnp.all(jnp.isfinite(grad))),
        "grad_norm": finite_or_none(float(jnp.linalg.norm(grad))),
        "loss": finite_or_none(float(jax.jit(loss)(inp["actions"]))),
    }


def _trajectory_error(hands: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    err = np.linalg.norm(hands.astype(np.float64) - reference.astype(np.float64), axis=-1)
    finite = np.isfinite(err)
    return {
        "max_error_m": finite_or_none(float(np.max(err[finite]))) if finite.any() else None,
        "mean_error_m": finite_or_none(float(np.mean(err[finite]))) if finite.any() else None,
        "p99_error_m": finite_or_none(float(np.nanquantile(err, 0.99))),
        "median_trajectory_max_error_m": finite_or_none(float(np.nanmedian(np.nanmax(err, axis=1)))),
        "final_mean_error_m": finite_or_none(float(np.nanmean(err[:, -1]))),
        "n_nonfinite": int(np.size(err) - np.count_nonzero(finite)),
    }


def _bench_accuracy(
    inp: dict[str, jax.Array], repeats: int, default: dict[str, Any],
    default_traj: dict[str, np.ndarray], log: Logger,
) -> dict[str, Any]:
    """Hand-trajectory error of coarse substeps vs ``REFERENCE_SUBSTEPS``, and their speed."""
    runs: dict[int, tuple[dict[str, Any], dict[str, np.ndarray]]] = {
        default["n_substeps"]: (default, default_traj)}
    for n in sorted({*TRADEOFF_SUBSTEPS, REFERENCE_SUBSTEPS} - set(runs)):
        log(f"JAX env with n_substeps={n} (compiling) ...")
        runs[n] = _bench_jax_rollout(envs.make_functional("reach", n_substeps=n), inp, repeats)
    reference = runs[REFERENCE_SUBSTEPS][1]
    rows = []
    for n, (rec, traj) in sorted(runs.items()):
        rows.append({
            "n_substeps": n, "physics_dt": rec["physics_dt"], "batch": rec["batch"], "steps": rec["steps"],
            "is_default": n == default["n_substeps"], "is_reference": n == REFERENCE_SUBSTEPS,
            **_trajectory_error(traj["hand"], reference["hand"]),
            "ctrl_steps_per_s": rec["ctrl_steps_per_s"], "physics_steps_per_s": rec["physics_steps_per_s"],
            "compile_s": rec["compile_s"], "median_s": rec["median_s"],
        })
    return {
        "reference_substeps": REFERENCE_SUBSTEPS, "batch": default["batch"], "steps": default["steps"],
        "dtype": default["dtype"], "excitation": f"random walks, increment sd {WALK_SD}, clipped to [0, 1]",
        "reference_motion": _motion_stats(reference), "rows": rows,
    }


def _motion_stats(traj: dict[str, np.ndarray]) -> dict[str, Any]:
    """How violent the excited movements are: context for the trajectory errors."""
    sk = ArmConfig().skeleton
    at_limit = (traj["q"] <= sk.q_lower + 1e-4) | (traj["q"] >= sk.q_upper - 1e-4)
    peak_speed = np.nanmax(np.abs(traj["qd"]), axis=(1, 2))
    disp = np.linalg.norm(traj["hand"][:, -1] - traj["hand"][:, 0], axis=-1)
    return {
        "mean_hand_displacement_m": finite_or_none(float(np.nanmean(disp))),
        "median_peak_joint_speed_rad_s": finite_or_none(float(np.nanmedian(peak_speed))),
        "max_joint_speed_rad_s": finite_or_none(float(np.nanmax(peak_speed))),
        "fraction_of_steps_at_a_joint_limit": float(np.mean(np.any(at_limit, axis=-1))),
        "fraction_of_trajectories_touching_a_limit": float(np.mean(np.any(at_limit, axis=(1, 2)))),
    }


def _bench_training(grad_batch: int, steps: int, repeats: int, variants: tuple[str, ...]) -> dict[str, Any]:
    """Seconds per jitted training update of the default controllers on reach episodes."""
    from agents.rollout import EpisodeSampler
    from agents.training import TrainConfig, Trainer
    from agents.variants import build_model, make_variant

    sampler = EpisodeSampler(episode_steps=steps)
    out = {}
    for name in variants:
        variant = make_variant(name)
        trainer = Trainer(build_model(variant, (64, 64)), variant.objective, sampler,
                          TrainConfig(batch_size=grad_batch))
        state = trainer.init(jax.random.PRNGKey(0))
        t0 = time.perf_counter()
        update = jax.jit(trainer.update).lower(state.params, state.opt_state, state.key).compile()
        compile_s = time.perf_counter() - t0
        params, opt, loss, _ = jax.block_until_ready(update(state.params, state.opt_state, state.key))
        timing = time_calls(lambda u=update, p=params, o=opt, k=state.key: u(p, o, k), repeats)
        out[name] = {"batch": grad_batch, "steps": steps, "widths": [64, 64], "objective": variant.objective,
                     "callosum": variant.callosum, "compile_s": compile_s, **timing,
                     "s_per_update": timing["median_s"], "loss_finite": bool(np.isfinite(float(loss))),
                     "includes": "episode draw, closed-loop rollout, backward (2 routed objectives "
                                 "when specialised), clipping, Adam step"}
    return out


# -- assembly ------------------------------------------------------------------------------
def _ratios(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, (num_path, den_path, target) in TARGETS.items():
        num, den = _get(result, num_path), _get(result, den_path)
        value = float(num / den) if num and den else None
        out[name] = {"numerator": num_path, "denominator": den_path, "value": value, "target": target,
                     "meets_target": None if value is None else bool(value >= target)}
    return out


def run_benchmark(
    batch: int = 1024, steps: int = 50, grad_batch: int = 64, repeats: int = 3,
    peers: bool = True, progress: bool = True, training_variants: tuple[str, ...] = TRAINING_VARIANTS,
) -> dict:
    """Run every measurement (see module docstring); returns a JSON-serialisable dict."""
    log = make_logger(progress, "bench_envs")
    t_start, cpu_start = time.perf_counter(), cpu_snapshot()
    inp = _inputs(batch, steps, seed=0)
    log(f"JAX env rollout, batch {batch} x {steps} steps (compiling) ...")
    jax_env, traj = _bench_jax_rollout(envs.make_functional("reach"), inp, repeats)
    sharded = None
    cpus = [d for d in jax.devices() if d.platform == "cpu"]
    if len(cpus) > 1 and batch % len(cpus) == 0:
        log(f"JAX env: {jax_env['ctrl_steps_per_s']:.3g} control steps/s; batch split over {len(cpus)} "
            f"host devices (compiling) ...")
        sharded, traj_sharded = _bench_jax_rollout(envs.make_functional("reach"), inp, repeats, cpus)
        sharded["max_hand_difference_m"] = float(np.abs(traj_sharded["hand"] - traj["hand"]).max())
    log(f"JAX env: {jax_env['ctrl_steps_per_s']:.3g} control steps/s; the same on mjx.step (compiling) ...")
    jax_env_mjx, traj_mjx = _bench_jax_rollout(envs.make_functional("reach", physics="mjx"), inp, repeats)
    jax_env_mjx["max_hand_difference_m"] = float(np.abs(traj_mjx["hand"] - traj["hand"]).max())
    log(f"mjx.step: {jax_env_mjx['ctrl_steps_per_s']:.3g} control steps/s; BPTT gradient (compiling) ...")
    jax_grad = _bench_jax_grad(grad_batch, steps, repeats)
    log("training updates of the default controllers (compiling) ...")
    training = _bench_training(grad_batch, steps, repeats, tuple(training_variants))
    accuracy = _bench_accuracy(inp, repeats, jax_env, traj, log)
    vec = {"arm_jax_vector_env_small": guard(f"ArmVectorEnv({SYNC_NUM_ENVS})", log, bench_arm_jax_vector,
                                              SYNC_NUM_ENVS, steps, repeats)}
    if batch != SYNC_NUM_ENVS:
        vec["arm_jax_vector_env_batch"] = guard(f"ArmVectorEnv({batch})", log, bench_arm_jax_vector,
                                                 batch, steps, repeats)
    peer_results = run_peers(batch, steps, repeats, jax_env["physics_dt"], log) if peers else {}
    result: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "settings": {"batch": batch, "steps": steps, "grad_batch": grad_batch, "repeats": repeats,
                         "peers": peers, "statistic": "median of repeats",
                         "training_variants": list(training_variants)},
            "machine": machine(), "versions": versions(DIST_NAMES),
            # the runner's runtime settings for the arm (experiments.runtime.configure_jax): host
            # devices, and whether XLA hands fusions to YNNPACK (off: jax_env ran 1.7x faster)
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "devices": [str(d) for d in jax.devices()],
        },
        "jax_env": jax_env, "jax_env_sharded": sharded, "jax_env_mjx": jax_env_mjx, "jax_grad": jax_grad,
        "training": training,
        "accuracy": accuracy, "jax_vector_env": vec,
        "peers": peer_results,
    }
    result["ratios"] = _ratios(result)
    result["meta"]["interference"] = interference(cpu_start, cpu_snapshot())
    result["wall_s"] = time.perf_counter() - t_start
    log(f"done in {result['wall_s']:.1f} s")
    return json.loads(json.dumps(result, default=str))  # plain JSON types only


# -- table ----------------------------------------------------------------------------------
def _throughput_rows(result: dict[str, Any]) -> list[list[str]]:
    jax_ctrl = result["jax_env"]["ctrl_steps_per_s"]
    entries: list[tuple[str, dict[str, Any]]] = [("JAX env jit(vmap(rollout))", result["jax_env"])]
    if result.get("jax_env_sharded"):
        entries.append((f"JAX env, batch over {result['jax_env_sharded']['devices']} host devices",
                        result["jax_env_sharded"]))
    if "jax_env_mjx" in result:
        entries.append(("JAX env on mjx.step (arm.physics=mjx)", result["jax_env_mjx"]))
    entries += [(f"JAX env, n_substeps={r['n_substeps']}", r) for r in result["accuracy"]["rows"]
                if not r["is_default"]]
    names = {"arm_jax_vector_env_small": "ArmVectorEnv (JAX make_vec)",
             "arm_jax_vector_env_batch": "ArmVectorEnv (JAX make_vec)",
             "arm_sync_vector_env": "SyncVectorEnv(ArmEnv, MuJoCo C)", "reacher_single": "Reacher-v5 single loop",
             "reacher_sync_vector_env": "SyncVectorEnv(Reacher-v5)", "mujoco_rollout": "mujoco.rollout skeleton",
             "motornet_rollout": "MotorNet RandomTargetReach"}
    for key, rec in [*result["jax_vector_env"].items(), *result["peers"].items()]:
        if key in names:
            entries.append((names[key], rec))
    rows = []
    for name, rec in entries:
        if rec.get("available") is False:
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", f"unavailable: {rec['reason'][:60]}"])
            continue
        ctrl = rec.get("ctrl_steps_per_s")
        size = rec.get("batch", rec.get("num_envs"))
        compile_s = rec.get("compile_s", rec.get("first_reset_and_step_s"))
        rows.append([name, fmt(size), fmt(rec.get("steps")), fmt(rec.get("median_s")), fmt(ctrl),
                     fmt(rec.get("physics_steps_per_s")), fmt(compile_s),
                     fmt(jax_ctrl / ctrl if ctrl else None), ""])
    return rows


def format_table(result: dict) -> str:
    """Plain-text rendering of ``run_benchmark``'s result, with ratio and target columns."""
    meta = result["meta"]
    parts = [f"Environment benchmark {meta['date']}  ({meta['machine']['jax_backend']}, "
             f"{meta['machine']['cpus_available']} CPUs, {meta['settings']['statistic']} of "
             f"{meta['settings']['repeats']})"]
    header = ["measurement", "batch", "steps", "median_s", "ctrl/s", "phys/s", "compile_s", "JAX/this", "note"]
    parts += ["", "Throughput (JAX/this = JAX env control steps/s over this row's control steps/s)",
              grid(header, _throughput_rows(result))]
    g, mb = result["jax_grad"], result["peers"].get("motornet_bptt", {})
    grad_rows = [["JAX jit(grad) open-loop actions", fmt(g["batch"]), fmt(g["steps"]), fmt(g["median_s"]),
                  fmt(g["compile_s"]), f"finite={g['grad_finite']}"]]
    for name, rec in result.get("training", {}).items():
        grad_rows.append([f"JAX training update {name}", fmt(rec["batch"]), fmt(rec["steps"]),
                          fmt(rec["median_s"]), fmt(rec["compile_s"]), "64x64, Adam"])
    if mb:
        grad_rows.append(["MotorNet BPTT update (GRU 32 + Adam)", fmt(mb.get("batch")), fmt(mb.get("steps")),
                          fmt(mb.get("median_s")), "-",
                          "" if mb.get("available") else f"unavailable: {mb.get('reason', '')[:60]}"])
    parts += ["", "Gradients (s per gradient / update)",
              grid(["measurement", "batch", "steps", "median_s", "compile_s", "note"], grad_rows)]
    acc = result["accuracy"]
    acc_rows = [[fmt(r["n_substeps"]) + (" (default)" if r["is_default"] else "")
                 + (" (reference)" if r["is_reference"] else ""), fmt(r["physics_dt"]),
                 fmt(r["max_error_m"]), fmt(r["p99_error_m"]), fmt(r["median_trajectory_max_error_m"]),
                 fmt(r["mean_error_m"]), fmt(r["final_mean_error_m"]), fmt(r["ctrl_steps_per_s"]),
                 fmt(r["compile_s"])] for r in acc["rows"]]
    mo = acc["reference_motion"]
    parts += ["", f"Hand-trajectory error (m) vs n_substeps={acc['reference_substeps']} (batch {acc['batch']} x "
              f"{acc['steps']} steps, {acc['dtype']}, {acc['excitation']})",
              f"reference motion: mean hand displacement {fmt(mo['mean_hand_displacement_m'])} m, median peak "
              f"joint speed {fmt(mo['median_peak_joint_speed_rad_s'])} rad/s (max "
              f"{fmt(mo['max_joint_speed_rad_s'])}), {fmt(100 * mo['fraction_of_steps_at_a_joint_limit'])}% "
              f"of steps at a joint limit",
              grid(["n_substeps", "physics_dt", "max", "p99", "median traj max", "mean", "final mean",
                     "ctrl/s", "compile_s"], acc_rows)]
    par = result["peers"].get("motornet_parity", {})
    if par.get("available"):
        parts += ["", f"MotorNet parity (same start and excitations, physics_dt {par['physics_dt']} s both): "
                  f"max hand difference {fmt(par['max_hand_difference_m'])} m over "
                  f"{fmt(par['hand_travel_m'])} m of travel"]
    tf_peer = result["peers"].get("motornet_tf", {})
    if tf_peer.get("available"):
        for key in sorted(k for k in tf_peer if k.startswith("batch_")):
            r = tf_peer[key]
            parts.append(f"MotorNet 0.1.5 (TF) batch {r['batch']}: {fmt(r['ctrl_steps_per_s'])} ctrl/s, ours "
                         f"(plant=motornet_tf) {fmt(r['jax_ctrl_steps_per_s'])} ctrl/s (x"
                         f"{fmt(r['jax_over_motornet_tf'])}), max hand difference "
                         f"{fmt(r['max_hand_difference_m'])} m")
    elif tf_peer:
        parts.append(f"MotorNet 0.1.5 (TF) peer: {tf_peer.get('reason', '')}")
    ratio_rows = [[name, fmt(r["value"]), f">= {r['target']:g}", fmt(r["meets_target"])]
                  for name, r in result["ratios"].items()]
    parts += ["", "Targets", grid(["ratio", "value", "target", "meets_target"], ratio_rows),
              "", f"wall time {result['wall_s']:.1f} s; " + interference_line(meta.get("interference", {}))]
    return "\n".join(parts)


@dataclass(frozen=True)
class Settings:
    """The benchmark's settings (``python -m benchmarks envs key=value ...``): the keyword
    arguments of :func:`run_benchmark`."""

    batch: int = 1024
    steps: int = 50
    grad_batch: int = 64
    repeats: int = 3
    peers: bool = True
