"""The arm's MJCF skeleton for MuJoCo C and MJX, built from a :class:`SkeletonParams`.

The environments build their MuJoCo model from ``cfg.skeleton`` (:func:`load_model`), and
the closed-form dynamics, kinematics and joint limits read the same ``cfg.skeleton``, so
every part of the arm follows one set of numbers. To bring your own MJCF arm, read its
numbers with :func:`skeleton_from_model` and pass them as ``ArmConfig(skeleton=...)``.
"""

from __future__ import annotations

from importlib import resources

import mujoco
import numpy as np

from envs.params import SkeletonParams

MODEL_FILE = "arm26.xml"


def load_model(physics_dt: float, skeleton: SkeletonParams | None = None) -> mujoco.MjModel:
    """The arm skeleton with integrator time step ``physics_dt`` (s): the shipped MJCF, with
    ``skeleton``'s masses, lengths (elbow position, hand site, capsules), centres of mass,
    inertias about z and joint ranges written in when given (``None``: the file as is)."""
    if not physics_dt > 0:
        raise ValueError(f"physics_dt must be positive, got {physics_dt}")
    xml = resources.files("envs").joinpath("assets", MODEL_FILE).read_text()
    spec = mujoco.MjSpec.from_string(xml)
    if skeleton is not None:
        _write_skeleton(spec, skeleton)
    model = spec.compile()
    model.opt.timestep = physics_dt
    return model


def _write_skeleton(spec: mujoco.MjSpec, p: SkeletonParams) -> None:
    """Write ``p`` into ``spec``. Each segment's inertia about its two transverse axes (y, z)
    is set to ``i1``/``i2`` (the file's rod symmetry; only z enters the planar dynamics, and
    MuJoCo's triangle inequality holds for any i above the axial 0.001), the axial one kept."""
    segments = (("upper_arm", p.m1, p.l1g, p.i1, p.l1), ("forearm", p.m2, p.l2g, p.i2, p.l2))
    for name, mass, com, inertia, length in segments:
        body = spec.body(name)
        if not body.explicitinertial:
            raise ValueError(f"body {name!r} of {MODEL_FILE} must declare its <inertial>")
        body.mass, body.ipos = mass, [com, 0.0, 0.0]
        body.inertia = [body.inertia[0], inertia, inertia]
        for geom in body.geoms:  # the bone from the joint to the segment's end follows its length
            if geom.type == mujoco.mjtGeom.mjGEOM_CAPSULE:
                geom.fromto = [0.0, 0.0, 0.0, length, 0.0, 0.0]
    spec.body("forearm").pos = [p.l1, 0.0, 0.0]
    spec.site("hand").pos = [p.l2, 0.0, 0.0]
    for j, name in enumerate(("shoulder", "elbow")):
        spec.joint(name).range = [float(p.q_lower[j]), float(p.q_upper[j])]


def skeleton_from_model(model: mujoco.MjModel) -> SkeletonParams:
    """The two-link parameters of an MJCF skeleton ``model``: masses, segment lengths
    (elbow and hand positions), centres of mass, inertias about the hinge axis (z) and
    declared joint ranges. This is how a user brings their own MJCF arm:
    ``ArmConfig(skeleton=skeleton_from_model(their_model))``; the environments then build
    their MuJoCo model from these numbers (:func:`load_model`)."""
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
