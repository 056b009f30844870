"""Muscle-driven planar arm (MotorNet's RigidTendonArm26 on MuJoCo / MJX).

Importing this package registers the gymnasium ids ``callosum/ArmReach-v0``,
``callosum/ArmHold-v0`` and ``callosum/ArmCentreOut-v0`` (``gymnasium.make_vec`` on them
runs the batched JAX backend). ``make_functional`` gives the pure JAX environment.

Episode length of the ids: ``max_episode_steps`` (gymnasium's setting, registered as 50,
the default of ``ArmConfig.episode_steps``): ``gymnasium.make(id, max_episode_steps=100)``
and ``gymnasium.make_vec(id, num_envs=n, max_episode_steps=100)`` give 100-step episodes.
Passing ``episode_steps`` to ``make`` / ``make_vec`` raises ``ValueError`` (see
``ArmEnv.spec``); it sets the length of an ``ArmEnv`` / ``ArmVectorEnv`` built directly.

Light import: ``import envs`` and ``import envs.config`` import neither JAX nor MuJoCo (a
settings schema can use ``ArmConfig`` before the runner sets ``XLA_FLAGS``); the other
public names load their modules on first access (PEP 562), as do the submodules
(``envs.functional``, ...). The registration needs only gymnasium and string entry points.

Headless rendering: MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first
imported; unless set, this package sets ``MUJOCO_GL=egl`` (Mesa's EGL renders without a
display). Set it yourself before importing mujoco to choose another (``osmesa``, ``glfw``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402

from envs.config import TASKS, ArmConfig  # noqa: E402  (no JAX, no MuJoCo)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from envs.functional import ArmState, FunctionalArmEnv, make_functional
    from envs.gym_env import ArmEnv
    from envs.tasks import Episode, centre_out_targets, sample_episode
    from envs.vector_env import ArmVectorEnv

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

# public name -> the module that defines it, imported on first access
_LAZY: dict[str, str] = {
    "ArmState": "envs.functional",
    "FunctionalArmEnv": "envs.functional",
    "make_functional": "envs.functional",
    "ArmEnv": "envs.gym_env",
    "Episode": "envs.tasks",
    "centre_out_targets": "envs.tasks",
    "sample_episode": "envs.tasks",
    "ArmVectorEnv": "envs.vector_env",
}

__all__ = [
    "ENV_IDS", "EPISODE_STEPS", "TASKS", "ArmConfig", "ArmEnv", "ArmState", "ArmVectorEnv",
    "Episode", "FunctionalArmEnv", "centre_out_targets", "make_functional", "sample_episode",
]


def __getattr__(name: str) -> Any:
    """PEP 562: load a public name's module (or a submodule, ``envs.plant``) on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif _is_submodule(name):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def _is_submodule(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_") and (
        importlib.util.find_spec(f"{__name__}.{name}") is not None)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
