"""MotorNet 0.1.5 (TensorFlow) side of the environment benchmark's MotorNet-TF peer.

Runs under the Python named by ``CALLOSUM_MOTORNET_TF_PYTHON`` (see ``requirements.txt``
here), never in the project's environment::

    python worker.py inputs.npz outputs.npz REPEATS

``inputs.npz`` holds, per batch size B, ``joint0_B`` (B, 4), ``excitation_B`` (B, T, 6) and
``load_B`` (B, 2). For each B the plant, built as in the original code
(``RigidTendonArm26(RigidTendonHillMuscle())``), is set to its initial state (eager, untimed) and
rolled out over the T steps inside one ``tf.function`` (graph mode, as the original's Keras RNN runs it): one untimed call (tracing),
then REPEATS timed ones. ``outputs.npz`` gets ``hand_B`` (B, T, 2) and ``times_B`` (REPEATS,) s.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402


def main(inputs: str, outputs: str, repeats: int) -> None:
    import motornet as mn
    import tensorflow as tf

    data = np.load(inputs)
    plant = mn.plants.RigidTendonArm26(mn.plants.muscles.RigidTendonHillMuscle())
    out: dict[str, np.ndarray] = {"versions": np.array(f"motornet {mn.__version__}, tensorflow {tf.__version__}")}
    for key in sorted(k for k in data.files if k.startswith("joint0_")):
        b = key.split("_")[1]
        joint0, u, load = (tf.constant(data[f"{n}_{b}"]) for n in ("joint0", "excitation", "load"))

        state0 = plant.get_initial_state(joint_state=joint0)  # eager, as the original's task does

        @tf.function
        def rollout(state0: list, u: tf.Tensor, load: tf.Tensor) -> tf.Tensor:
            joint, cart, muscle, geom = state0
            hands = []
            for t in range(u.shape[1]):
                joint, cart, muscle, geom = plant(u[:, t], joint, muscle, geom, endpoint_load=load)
                hands.append(cart[:, :2])
            return tf.stack(hands, axis=1)

        hand = rollout(state0, u, load).numpy()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            rollout(state0, u, load).numpy()
            times.append(time.perf_counter() - t0)
        out[f"hand_{b}"], out[f"times_{b}"] = hand, np.array(times)
    np.savez(outputs, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
