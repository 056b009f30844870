"""Muscle-driven planar arm (MotorNet's RigidTendonArm26 on MuJoCo / MJX).

Importing this package registers the gymnasium ids ``callosum/ArmReach-v0``,
``callosum/ArmHold-v0`` and ``callosum/ArmCentreOut-v0`` (``gymnasium.make_vec`` on them
runs the batched JAX backend). ``make_functional`` gives the pure JAX environment.

Episode length of the ids: ``max_episode_steps`` (gymnasium's setting, registered as 50,
the default of ``ArmConfig.episode_steps``): ``gymnasium.make(id, max_episode_steps=100)``
and ``gymnasium.make_vec(id, num_envs=n, max_episode_steps=100)`` give 100-step episodes.
Passing ``episode_steps`` to ``make`` / ``make_vec`` raises ``ValueError`` (see
``ArmEnv.spec``); it sets the length of an ``ArmEnv`` / ``ArmVectorEnv`` built directly.

Importing the package imports JAX, MJX and MuJoCo but starts no JAX backend, so XLA's
flags and the CPU's device split may still be set afterwards (``experiments.runtime``).

Headless rendering: MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first
imported; unless set, this package sets ``MUJOCO_GL=egl`` (Mesa's EGL renders without a
display). Set it yourself before importing mujoco to choose another (``osmesa``, ``glfw``).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is first imported

import gymnasium as gym  # noqa: E402

from envs.config import TASKS, ArmConfig  # noqa: E402
from envs.functional import ArmState, FunctionalArmEnv, make_functional  # noqa: E402
from envs.gym_env import ArmEnv  # noqa: E402
from envs.tasks import Episode, centre_out_targets, sample_episode  # noqa: E402
from envs.vector_env import ArmVectorEnv  # noqa: E402

ENV_IDS: dict[str, str] = {
    "reach": "callosum/ArmReach-v0",
    "hold": "callosum/ArmHold-v0",
    "centre_out": "callosum/ArmCentreOut-v0",
}

EPISODE_STEPS: int = ArmConfig.__dataclass_fields__["episode_steps"].default
"""The registered ids' ``max_episode_steps``: ``ArmConfig``'s default episode length."""

for _task, _id in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point="envs.gym_env:ArmEnv",
            vector_entry_point="envs.vector_env:ArmVectorEnv",
            max_episode_steps=EPISODE_STEPS,
            kwargs={"task": _task},
        )

__all__ = [
    "ENV_IDS", "EPISODE_STEPS", "TASKS", "ArmConfig", "ArmEnv", "ArmState", "ArmVectorEnv",
    "Episode", "FunctionalArmEnv", "centre_out_targets", "make_functional", "sample_episode",
]

