"""Experiment runner: the only layer that reads configs and writes run outputs."""
