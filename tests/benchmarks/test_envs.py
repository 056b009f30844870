"""The environment benchmark's own logic on a tiny workload (no timings are asserted)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.envs import format_table, run_benchmark


def test_tiny_benchmark_reports_consistent_numbers(tmp_path: Path) -> None:
    result = run_benchmark(batch=8, steps=5, grad_batch=4, repeats=1, peers=False, progress=False,
                           training_variants=("bilateral_specialised_cc",))
    env = result["jax_env"]
    assert env["ctrl_steps_per_s"] > 0
    assert env["physics_steps_per_s"] == env["ctrl_steps_per_s"] * env["n_substeps"]
    assert result["jax_grad"]["grad_finite"] is True
    rows = {r["n_substeps"]: r for r in result["accuracy"]["rows"]}
    assert rows[result["accuracy"]["reference_substeps"]]["max_error_m"] == 0.0
    # Semi-implicit Euler converges: more substeps, smaller error against the fine reference.
    errors = [rows[n]["mean_error_m"] for n in sorted(rows) if n != result["accuracy"]["reference_substeps"]]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    update = result["training"]["bilateral_specialised_cc"]
    assert update["loss_finite"] is True and update["s_per_update"] > 0 and update["batch"] == 4
    assert result["peers"] == {}
    # without the peer the update ratio is reported as missing, not invented
    assert result["ratios"]["motornet_update_vs_bilateral_specialised_update"]["value"] is None
    # the mjx.step row: same trajectories to float32 rounding, its own throughput and ratio
    assert result["jax_env_mjx"]["max_hand_difference_m"] < 1e-5 and result["jax_env_mjx"]["ctrl_steps_per_s"] > 0
    ratio = result["ratios"]["closed_form_vs_mjx_step_rollout"]
    assert ratio["value"] == env["ctrl_steps_per_s"] / result["jax_env_mjx"]["ctrl_steps_per_s"]
    table = format_table(result)
    assert "JAX env" in table and "n_substeps" in table and "mjx.step" in table


def test_the_motornet_tf_peer_ships_its_worker_and_requirements() -> None:
    """The peer's worker runs in its own virtualenv, so no test imports it: check that the
    benchmark points at a file that is there (it pointed at a missing one after a move)."""
    import ast

    from benchmarks.peers import MOTORNET_TF_WORKER

    assert MOTORNET_TF_WORKER.is_file(), MOTORNET_TF_WORKER
    ast.parse(MOTORNET_TF_WORKER.read_text())  # valid Python, even without TensorFlow here
    requirements = (MOTORNET_TF_WORKER.parent / "requirements.txt").read_text()
    assert "motornet==0.1.5" in requirements
