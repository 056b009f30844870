"""Fixtures shared by the agents tests: one short-episode sampler for the session."""

from __future__ import annotations

import pytest

from agents.rollout import EpisodeSampler

EPISODE_STEPS = 10


@pytest.fixture(scope="session")
def sampler() -> EpisodeSampler:
    return EpisodeSampler(episode_steps=EPISODE_STEPS)
