"""The stored-program cache: same results as the function, no tracing once stored, and a
new trace whenever anything that shaped the program changed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import trace_cache


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_cache, "_directory", tmp_path / "exported")
    return tmp_path / "exported"


class Counted:
    """A jitted function of a pytree that counts how often Python traces it."""

    def __init__(self, scale: float = 2.0):
        self.traces = 0
        self.scale = scale
        self.jitted = jax.jit(self.f)

    def f(self, state):
        self.traces += 1
        x, y = state["x"], state["pair"][1]
        return {"sum": jnp.sum(x) + y, "scaled": (self.scale * x, jnp.cumsum(x))}


def _args(n=5):
    return ({"x": jnp.arange(n, dtype=jnp.float32), "pair": (jnp.zeros(()), jnp.float32(3.0))},)


def _same(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert jax.tree.structure(a) == jax.tree.structure(b)


def test_stored_program_gives_the_function_results_without_tracing_again(store):
    first = Counted()
    out = trace_cache.cached(first.jitted, "f", {"scale": 2.0})(*_args())
    _same(out, first.f(*_args()))
    assert len(list(store.glob("f-*.exported"))) == 1
    later = Counted()  # a later process: a new function object, the same code and settings
    again = trace_cache.cached(later.jitted, "f", {"scale": 2.0})
    _same(again(*_args()), out)
    _same(again(*_args()), out)
    assert later.traces == 0


def test_new_settings_shapes_or_code_trace_again(store, monkeypatch):
    trace_cache.cached(Counted().jitted, "f", {"scale": 2.0})(*_args())
    other = Counted(scale=3.0)
    out = trace_cache.cached(other.jitted, "f", {"scale": 3.0})(*_args())
    assert other.traces == 1
    np.testing.assert_array_equal(np.asarray(out["scaled"][0]), 3.0 * np.arange(5))
    shaped = Counted()
    trace_cache.cached(shaped.jitted, "f", {"scale": 2.0})(*_args(7))
    assert shaped.traces == 1
    monkeypatch.setattr(trace_cache, "code_fingerprint", lambda: "edited source")
    edited = Counted()
    trace_cache.cached(edited.jitted, "f", {"scale": 2.0})(*_args())
    assert edited.traces == 1
    assert len(list(store.glob("f-*.exported"))) == 4


def test_unreadable_store_is_traced_again_and_replaced(store):
    trace_cache.cached(Counted().jitted, "f", {})(*_args())
    (path,) = store.glob("f-*.exported")
    path.write_bytes(b"cut off")
    fresh = Counted()
    _same(trace_cache.cached(fresh.jitted, "f", {})(*_args()), fresh.f(*_args()))
    assert fresh.traces == 2  # once for the store, once called directly above
    later = Counted()
    trace_cache.cached(later.jitted, "f", {})(*_args())
    assert later.traces == 0


def test_a_function_that_cannot_be_exported_runs_as_itself(store):
    seen = []

    @jax.jit
    def with_callback(x):
        jax.debug.callback(lambda v: seen.append(float(v)), jnp.sum(x))
        return x * 2

    out = trace_cache.cached(with_callback, "cb", {})(jnp.ones(3))
    np.testing.assert_array_equal(np.asarray(out), 2 * np.ones(3))
    jax.effects_barrier()
    assert seen == [3.0]
    assert not list(store.glob("cb-*"))


def test_without_a_directory_the_function_is_returned(monkeypatch):
    monkeypatch.setattr(trace_cache, "_directory", None)
    f = Counted().jitted
    assert trace_cache.cached(f, "f", {}) is f


def test_code_fingerprint_follows_the_traced_sources(tmp_path, monkeypatch):
    package = tmp_path / "traced_pkg"
    (package / "assets").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "step.py").write_text("def step(x):\n    return x + 1\n")
    (package / "assets" / "arm.xml").write_text("<mujoco/>")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(trace_cache, "TRACED_PACKAGES", ("traced_pkg",))
    prints = []
    for edit in (None, ("step.py", "def step(x):\n    return x + 2\n"), ("assets/arm.xml", "<mujoco model='b'/>")):
        if edit:
            (package / edit[0]).write_text(edit[1])
        trace_cache.code_fingerprint.cache_clear()
        prints.append(trace_cache.code_fingerprint())
    trace_cache.code_fingerprint.cache_clear()
    assert len(set(prints)) == 3
