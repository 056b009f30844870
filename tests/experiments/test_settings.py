"""The runner's settings are described once: the schemas are the library's dataclasses (or
the task's), the YAML files carry no second copy of a default, and Hydra refuses wrong types
and unknown keys itself."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from agents.config import AgentConfig, TrainConfig
from envs.config import ArmConfig, PlantConfig, TaskConfig
from experiments.settings import (
    ARM_TASK_SETTINGS,
    PERTURBATION_SETTINGS,
    ArmSettings,
    ArmTaskSettings,
    TrainSettings,
    arm_settings,
    typed_settings,
)
from experiments.tasks import KINDS

CONF = Path(__file__).resolve().parents[2] / "experiments" / "conf"


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("library, schema, runner_only", [
    (PlantConfig, ArmSettings, {"skeleton", "muscles"}),
    (TaskConfig, ArmTaskSettings, {"task", "centre_out_start", *PERTURBATION_SETTINGS}),
    (TrainConfig, TrainSettings, {"task"}),
])
def test_schemas_are_the_library_dataclasses(library, schema, runner_only) -> None:
    mine = {f.name: f for f in dataclasses.fields(schema)}
    theirs = {f.name: f for f in dataclasses.fields(library)}
    assert set(mine) == set(theirs) - runner_only
    built, default = OmegaConf.to_object(OmegaConf.structured(schema)).library(), library()
    assert isinstance(built, library)
    assert all(getattr(built, k) == getattr(default, k) for k in mine)


def test_the_composed_defaults_are_the_librarys_except_what_the_yaml_names() -> None:
    cfg = compose_cfg(["task=reach"])
    deviations = yaml.safe_load((CONF / "train" / "default.yaml").read_text())
    deviations.pop("defaults")
    train = OmegaConf.to_container(cfg.train)
    library = dataclasses.asdict(TrainConfig())
    assert {k: v for k, v in train.items() if library[k] != v} == deviations
    assert OmegaConf.to_container(cfg.agent) == dataclasses.asdict(AgentConfig())
    plant = PlantConfig()  # the per-channel delays and noises: None in the schema, the shorthands' in the library
    assert all(v == getattr(plant, k) or (v is None and k.startswith(("proprioceptive_", "visual_")))
               for k, v in cfg.arm.items())
    task = TaskConfig()
    assert all(cfg.task[k] == getattr(task, k) or (k == "load_range" and cfg.task[k] is None)
               for k in ARM_TASK_SETTINGS)


def test_plant_settings_under_arm_task_settings_under_task_and_together_the_arm() -> None:
    """``arm.*`` is the plant (PlantConfig), the arm task's settings are the task's
    (TaskConfig); every ArmConfig field but the task comes from exactly one of them."""
    assert {f.name for f in dataclasses.fields(ArmConfig)} == (
        {f.name for f in dataclasses.fields(PlantConfig)} | {f.name for f in dataclasses.fields(TaskConfig)})
    cfg = compose_cfg(["task=reach", "arm.n_substeps=4", "arm.physics=mjx", "task.load_range=5",
                       "task.episode_steps=7"])
    settings = arm_settings(typed_settings(cfg))
    assert set(settings) == {f.name for f in dataclasses.fields(ArmSettings)} | set(ARM_TASK_SETTINGS)
    arm = ArmConfig.from_overrides("hold", **settings)
    assert (arm.n_substeps, arm.physics, arm.load_range, arm.episode_steps) == (4, "mjx", 5.0, 7)
    assert arm.plant_config.n_substeps == 4 and arm.task_config.load_range == 5.0
    assert ArmConfig.from_parts(arm.plant_config, arm.task_config).episode_steps == 7
    rollout = arm_settings(typed_settings(compose_cfg(["task=rollout", "task.effort_weight=0.5"])))
    assert rollout["effort_weight"] == 0.5
    with pytest.raises(ValueError, match="load_range"):
        TaskConfig(load_range=-1.0)
    with pytest.raises(ValueError, match="feedback_delay"):
        PlantConfig(control_dt=0.01, feedback_delay=0.015)


@pytest.mark.parametrize("path", sorted((CONF / "task").glob("*.yaml")), ids=lambda p: p.stem)
def test_task_files_repeat_no_default_of_their_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    task = data.get("task", data)  # @package _global_ files hold task: and other groups
    schemas = [d.split("@")[0].removeprefix("/schema/task/") for d in data["defaults"]
               if isinstance(d, str) and d.startswith("/schema/task/")]
    if not schemas:  # a file that extends another task's file (task=paper_original: task=paper)
        assert any(isinstance(d, str) and (CONF / "task" / f"{d}.yaml").exists() for d in data["defaults"])
        return
    defaults = OmegaConf.to_container(OmegaConf.structured(KINDS[schemas[0]].schema))

    def copies(values: dict, ref: dict, prefix: str = "") -> list[str]:
        out = []
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(ref.get(key), dict) and ref[key]:
                out += copies(value, ref[key], f"{prefix}{key}.")
            elif key in ref and value == ref[key]:
                out.append(prefix + key)
        return out

    assert copies({k: v for k, v in task.items() if k not in ("defaults", "name")}, defaults) == []


def test_unknown_keys_added_with_plus_are_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown key 'arm.colour' \(valid keys in arm: control_dt, n_substeps"):
        typed_settings(compose_cfg(["+arm.colour=red"]))
    with pytest.raises(ValueError, match=r"unknown key 'task.clean.x'.*valid keys in task.clean: detrend"):
        typed_settings(compose_cfg(["task=encoding", "+task.clean.x=1"]))
    typed_settings(compose_cfg(["task=encoding", "task.files.features={video: {train: a.h5, test: b.h5}}"]))


def test_the_schemas_load_without_starting_jax() -> None:
    """Importing the schemas imports JAX (the library's packages are ordinary imports) but
    starts no backend, so the runner can still set XLA's flags and the device split."""
    code = ("import experiments.settings; from jax._src import xla_bridge; "
            "print(xla_bridge.backends_are_initialized())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_every_task_kind_has_a_schema_and_a_module_with_run_and_check() -> None:
    for name, kind in KINDS.items():
        assert dataclasses.is_dataclass(kind.schema) and kind.name == name
        module = kind.load()
        assert callable(module.run) and callable(module.check), name


def test_every_task_file_names_a_registered_kind() -> None:
    for path in sorted((CONF / "task").glob("*.yaml")):
        cfg = compose_cfg([f"task={path.stem}"])
        assert cfg.task.kind in KINDS, path.stem


def test_the_entry_points_are_unchanged() -> None:
    for module, expected in (("experiments.run", "Configuration groups"), ("experiments.compare", "usage:")):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and expected in out.stdout, out.stderr[-2000:]


def test_the_biological_arm_preset() -> None:
    """``arm=biological``: proprioception 20 ms and vision 70 ms late (2 and 7 control steps),
    with noise on both channels and the excitations; an env builds from it."""
    arm = ArmConfig.from_overrides("reach", **arm_settings(typed_settings(compose_cfg(["task=reach", "arm=biological"]))))
    assert (arm.proprioceptive_steps, arm.visual_steps) == (2, 7)
    assert arm.proprioceptive_noise > 0 and arm.visual_noise > 0 and arm.motor_noise > 0
    import jax

    import envs

    assert envs.FunctionalArmEnv(arm).reset(jax.random.key(0)).feedback.shape == (8, 14)  # 7 past steps + now
