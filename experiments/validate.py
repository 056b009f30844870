"""Check a composed run config before any work starts: keys the task does not know (also
ones added with ``+key=...``) and values outside a setting's choices fail, listing the
valid ones."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

# Free-form nodes: their children are the user's (file maps, sizes of a user's experiment).
FREE_FORM = ("task.files", "hydra")


def _choices() -> dict[str, tuple[Any, ...]]:
    """Setting -> valid values, taken from the modules that define them."""
    from agents.callosum import KINDS
    from agents.hemisphere import CELLS
    from agents.rollout import TRAIN_TASKS

    return {"agent.cell": CELLS, "agent.callosum": KINDS, "task.train_task": TRAIN_TASKS,
            "arm.gradient": ("analytic", "mjx"), "task.data": ("synthetic", "files"),
            "task.mode": ("generate", "prompt")}


def reference_config(task: str) -> DictConfig:
    """The config as shipped for ``task=<task>`` (no user overrides)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=[f"task={task}"])
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=[f"task={task}"])


def unknown_keys(cfg: Any, ref: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(dotted key, valid keys at that level) for every key of ``cfg`` missing from ``ref``."""
    out = []
    for key in cfg:
        path = f"{prefix}{key}"
        if path in FREE_FORM:
            continue
        if key not in ref:
            out.append((path, sorted(str(k) for k in ref)))
        elif isinstance(cfg[key], dict) and isinstance(ref[key], dict):
            out += unknown_keys(cfg[key], ref[key], path + ".")
    return out


def validate_config(cfg: DictConfig) -> None:
    """Raise ``ValueError`` naming every unknown key and every value outside its choices."""
    task = OmegaConf.select(cfg, "task.name")
    if task is None:
        raise ValueError("the config has no task.name; choose a task with task=<name>")
    try:
        ref = reference_config(str(task))
    except Exception as exc:  # a task name without a shipped config (a user's own task file)
        if "task" in str(exc) and "not found" in str(exc).lower():
            ref = None
        else:
            raise
    problems = []
    if ref is not None:
        mine = OmegaConf.to_container(cfg, resolve=False)
        theirs = OmegaConf.to_container(ref, resolve=False)
        for key, valid in unknown_keys(mine, theirs):
            parent = key.rpartition(".")[0] or "the top level"
            problems.append(f"unknown key {key!r} (valid keys in {parent}: {', '.join(valid)})")
    for key, valid in _choices().items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and value not in valid:
            problems.append(f"{key}={value!r} is not one of: {', '.join(map(str, valid))}")
    if problems:
        raise ValueError("invalid config, nothing was run: " + "; ".join(problems))
