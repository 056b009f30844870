"""Muscle-driven planar arm (MotorNet's RigidTendonArm26 on MuJoCo / MJX).

Importing this package registers the gymnasium ids ``callosum/ArmReach-v0``,
``callosum/ArmHold-v0`` and ``callosum/ArmCentreOut-v0`` (``gymnasium.make_vec`` on them
runs the batched JAX backend). ``make_functional`` gives the pure JAX environment.

Headless rendering: MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first
imported; unless set, this package sets ``MUJOCO_GL=egl`` (Mesa's EGL renders without a
display). Set it yourself before importing mujoco to choose another (``osmesa``, ``glfw``).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

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

for _task, _id in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point="envs.gym_env:ArmEnv",
            vector_entry_point="envs.vector_env:ArmVectorEnv",
            kwargs={"task": _task},
        )

__all__ = [
    "ENV_IDS", "TASKS", "ArmConfig", "ArmEnv", "ArmState", "ArmVectorEnv", "Episode",
    "FunctionalArmEnv", "centre_out_targets", "make_functional", "sample_episode",
]
