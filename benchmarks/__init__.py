"""Benchmarks, run from the repository root as ``python -m benchmarks <name> [key=value ...]``
(``--help`` lists them and their settings), each timed side by side with its named peer
in the same run, printed as ratios and saved as JSON (``timing``: the shared clock and table;
``peers``: MotorNet, mujoco.rollout and the TensorFlow MotorNet as peers)."""
