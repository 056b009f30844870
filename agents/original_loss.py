"""The activity regulariser as the original code (Cerenaut/bilateral-motor-control) applied it.

Its tasks add an ``L2xDxRegularizer`` loss for every network state named ``hidden_*``, but its
networks return no hidden states: Keras sorts the model's output dict and the loss dict by
key and pairs them by position, so those losses act on plant outputs instead (established by
running the original code; see the README). Loss keys sort as ``cartesian position``,
``cartesian position2``, ``excitation``, then ``hidden_*``; outputs as ``cartesian position``,
``cartesian position2``, ``excitation``, ``geometry state``, ``joint position``,
``muscle state``, ``proprioceptive feedback``, ``visual feedback``. With the first three
paired as intended, the regulariser losses fall on:

- a unilateral network (``hidden_0``, ``hidden_1``): joint state, muscle state;
- a bilateral network (``hidden_l_0``, ``hidden_l_1``, ``hidden_r_0``, ``hidden_r_1``): joint
  state, muscle state, proprioceptive feedback, visual feedback.

Each with the weight of its key (0.01 unspecialised, 0.02 dominant, 0 non-dominant), i.e.
the ``hidden_reg`` term of ``agents.objectives`` computed on these arrays. The muscle state is
MotorNet 0.1.5's (7 rows per muscle, force in N among them), so at initialisation this term
is ~10^4 against position terms below 1.
"""

from __future__ import annotations

from typing import Any

import jax

UNILATERAL: tuple[str, ...] = ("joint", "muscle")
BILATERAL: tuple[str, ...] = ("joint", "muscle", "proprioception", "vision")


def keras_plant_outputs(env: Any, state: Any, bilateral: bool = True) -> dict[str, jax.Array]:
    """The plant outputs of an environment state after a step (one state, or states with
    leading batch / time axes), that the original's regulariser acted on: ``joint`` (4,)
    q, qd; ``muscle`` (7, 6) MotorNet 0.1.5's muscle state; for a bilateral network also ``proprioception`` (d, 12) and ``vision``
    (d, 2), the feedback delay line (d entries: MotorNet's delay of d steps is this
    project's ``feedback_delay`` of d - 1 steps)."""
    out = {"joint": env.joint_state(state), "muscle": env.muscle_state(state)}
    if bilateral:
        out["proprioception"] = state.feedback[..., :12]
        out["vision"] = state.feedback[..., 12:14]
    return out
