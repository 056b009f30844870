"""Loading the arm's MJCF skeleton for MuJoCo C and MJX."""

from __future__ import annotations

from importlib import resources

import mujoco

MODEL_FILE = "arm26.xml"


def load_model(physics_dt: float) -> mujoco.MjModel:
    """The arm skeleton with integrator time step ``physics_dt`` (s)."""
    if not physics_dt > 0:
        raise ValueError(f"physics_dt must be positive, got {physics_dt}")
    xml = resources.files("envs").joinpath("assets", MODEL_FILE).read_text()
    model = mujoco.MjModel.from_xml_string(xml)
    model.opt.timestep = physics_dt
    return model
