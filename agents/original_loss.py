"""The plant outputs that the original Keras code's activity regulariser acted on.

PROVISIONAL: filled in from the run-time inspection of the original code.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def keras_plant_outputs(env: Any, state: Any) -> dict[str, jax.Array]:
    """Named plant outputs of one (unbatched) environment state."""
    return {"joint": jnp.concatenate([state.q, state.qd])}
