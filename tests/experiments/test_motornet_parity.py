"""Our arm against MotorNet's RigidTendonArm26 (the independent reference it transcribes).

Needs the ``bench`` extra (torch, motornet); skipped where they are not installed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("motornet")

from benchmarks.peers import motornet_parity  # noqa: E402


def test_hand_path_matches_motornet_at_fine_steps() -> None:
    out = motornet_parity(physics_dt=0.001, steps=30)
    assert out["hand_travel_m"] > 0.1  # a real movement
    assert out["max_hand_difference_m"] < 0.005
