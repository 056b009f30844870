"""
A gymnasium rollout of the arm
==============================

One reach episode of ``callosum/ArmReach-v0`` (the MuJoCo C arm behind gymnasium's API) with
a constant, small co-contraction of the six muscles, then the hand's path and its distance
to the target. One episode of 50 control steps (0.5 s): a few seconds to run.
"""

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

import envs  # noqa: F401  (registers the callosum/ ids)

env = gym.make("callosum/ArmReach-v0")
obs, info = env.reset(seed=0, options={"joint_state": [0.8, 1.2], "target": [0.1, 0.45]})
hand, error = [info["hand_pos"]], [info["position_error"]]
action = np.full(env.action_space.shape, 0.1, dtype=np.float32)
truncated = terminated = False
while not (terminated or truncated):
    obs, reward, terminated, truncated, info = env.step(action)
    hand.append(info["hand_pos"])
    error.append(info["position_error"])
env.close()
hand = np.asarray(hand)

fig, (ax_path, ax_err) = plt.subplots(1, 2, figsize=(8, 3.5))
ax_path.plot(hand[:, 0], hand[:, 1], "-", label="hand")
ax_path.plot(*hand[0], "o", color="grey", label="start")
ax_path.plot(*info["target_pos"], "x", color="red", markersize=10, label="target")
ax_path.set(xlabel="x (m)", ylabel="y (m)", title="hand path", aspect="equal")
ax_path.legend(loc="best", fontsize=8)
ax_err.plot(np.arange(len(error)) * 0.01, np.asarray(error) * 100)
ax_err.set(xlabel="time (s)", ylabel="hand-target distance (cm)", title="position error")
fig.tight_layout()
plt.show()
