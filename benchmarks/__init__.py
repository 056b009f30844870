"""Benchmarks run as tasks (``task=bench_*``), each timed side by side with its named peer
in the same run, printed as ratios and saved as JSON (``timing``: the shared clock and table;
``peers``: MotorNet, mujoco.rollout and the TensorFlow MotorNet as peers)."""
