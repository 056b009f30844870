"""Reference trajectories of MotorNet 0.1.5's (TensorFlow) arm for ``tests/envs/test_motornet_tf.py``.

Runs under a Python with ``tensorflow-cpu==2.13.1``, ``motornet==0.1.5`` and
``ipython==8.12.3`` (see ``benchmarks/motornet_tf/requirements.txt``), not in the project's
environment (TensorFlow 2.13 and JAX cannot share one). It builds the plant as the original
bilateral-control code does (``RigidTendonArm26(RigidTendonHillMuscle())``: dt 0.01 s, Euler,
no excitation noise), drives it with fixed excitation sequences from fixed joint states,
some under a constant endpoint load as in the hold task, and writes inputs and outputs::

    python make_motornet_tf_reference.py [out.npz]   # default: motornet_tf_reference.npz here

Arrays (float32; E episodes, T steps): ``joint0`` (E, 4), ``excitation`` (E, T, 6),
``load`` (E, 2) N, ``muscle0`` (E, 7, 6) and, after each step, ``joint`` (E, T, 4),
``cartesian`` (E, T, 4), ``muscle`` (E, T, 7, 6).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

N_EPISODES, N_STEPS, SEED = 8, 50, 20240113


def episodes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start joint states (E, 4), excitations (E, T, 6) in [0, 1] and loads (E, 2) N."""
    lo, hi = np.zeros(2), np.deg2rad([135.0, 155.0])
    q0 = rng.uniform(lo + 0.2, hi - 0.2, (N_EPISODES, 2))
    qd0 = np.zeros((N_EPISODES, 2))
    qd0[1] = [0.5, -0.8]  # one start in motion
    walk = 0.3 + np.cumsum(rng.normal(0.0, 0.1, (N_EPISODES, N_STEPS, 6)), axis=1)
    u = np.clip(walk, 0.0, 1.0)
    u[2] = rng.uniform(0.0, 1.0, (N_STEPS, 6))  # white: sharp activation/deactivation
    u[3] = 0.0
    u[3, :, [0, 2, 4]] = 1.0  # all flexors: both joints into their upper stops
    q0[3] = [1.8, 2.2]
    u[4] = 0.0
    u[4, :, [1, 3, 5]] = 1.0  # all extensors: into the lower stops
    q0[4] = [0.4, 0.5]
    u[5, :10] = 0.0  # silent start, then the random walk
    load = np.zeros((N_EPISODES, 2))
    load[5:] = rng.uniform(-10.0, 10.0, (3, 2))  # hold-task loads
    return (np.concatenate([q0, qd0], 1).astype(np.float32), u.astype(np.float32),
            load.astype(np.float32))


def run(joint0: np.ndarray, excitation: np.ndarray, load: np.ndarray) -> dict[str, np.ndarray]:
    """Roll MotorNet 0.1.5's plant out; its own step, one call per control step."""
    import motornet as mn
    import tensorflow as tf

    plant = mn.plants.RigidTendonArm26(mn.plants.muscles.RigidTendonHillMuscle())
    joint, cart, muscle, geom = plant.get_initial_state(joint_state=tf.constant(joint0))
    out: dict[str, list[np.ndarray]] = {"joint": [], "cartesian": [], "muscle": []}
    muscle0 = muscle.numpy()
    endpoint_load = tf.constant(load)
    for t in range(excitation.shape[1]):
        joint, cart, muscle, geom = plant(tf.constant(excitation[:, t]), joint, muscle, geom,
                                          endpoint_load=endpoint_load)
        for name, value in (("joint", joint), ("cartesian", cart), ("muscle", muscle)):
            out[name].append(value.numpy())
    arrays = {k: np.stack(v, axis=1).astype(np.float32) for k, v in out.items()}
    return {"muscle0": muscle0.astype(np.float32), **arrays,
            "versions": np.array(f"motornet {mn.__version__}, tensorflow {tf.__version__}")}


def main(path: str | None = None) -> Path:
    out = Path(path) if path else Path(__file__).with_name("motornet_tf_reference.npz")
    joint0, excitation, load = episodes(np.random.default_rng(SEED))
    np.savez_compressed(out, joint0=joint0, excitation=excitation, load=load,
                        **run(joint0, excitation, load))
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
