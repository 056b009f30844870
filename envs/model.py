"""Loading the arm's MJCF skeleton for MuJoCo C and MJX."""

from __future__ import annotations

from importlib import resources

import mujoco
import numpy as np

from envs.params import SkeletonParams

MODEL_FILE = "arm26.xml"


def load_model(physics_dt: float) -> mujoco.MjModel:
    """The arm skeleton with integrator time step ``physics_dt`` (s)."""
    if not physics_dt > 0:
        raise ValueError(f"physics_dt must be positive, got {physics_dt}")
    xml = resources.files("envs").joinpath("assets", MODEL_FILE).read_text()
    model = mujoco.MjModel.from_xml_string(xml)
    model.opt.timestep = physics_dt
    return model


def skeleton_from_model(model: mujoco.MjModel) -> SkeletonParams:
    """The two-link parameters of the MJCF skeleton ``model``: masses, segment lengths
    (elbow and hand positions), centres of mass and inertias about the hinge axis (z), so
    that the closed-form step (``envs.dynamics``) integrates the model MuJoCo and MJX
    integrate. Joint ranges are the model's declared ones."""
    upper, fore = (mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in ("upper_arm", "forearm"))
    hand = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "hand")
    for body in (upper, fore):
        if not np.allclose(model.body_ipos[body][1:], 0.0) or not np.allclose(model.body_iquat[body], [1, 0, 0, 0]):
            raise ValueError("the closed-form arm needs each segment's centre of mass on its long (x) "
                             "axis and principal inertia axes along the body's")
    return SkeletonParams(
        m1=float(model.body_mass[upper]), m2=float(model.body_mass[fore]),
        l1=float(model.body_pos[fore][0]), l2=float(model.site_pos[hand][0]),
        l1g=float(model.body_ipos[upper][0]), l2g=float(model.body_ipos[fore][0]),
        i1=float(model.body_inertia[upper][2]), i2=float(model.body_inertia[fore][2]),
        q_lower=np.asarray(model.jnt_range[:, 0], float), q_upper=np.asarray(model.jnt_range[:, 1], float))
