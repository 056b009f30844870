"""``python -m experiments.compare``: the cross-run report on small real runs of the runner
(two encoding runs, a motor multirun over seeds with one unfinished job), its numerical
cores against SciPy, its errors, and the page in headless Chromium."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from scipy import stats

from agents.pooling import Cell
from brain.comparison import paired_runs
from brain.stats import sign_flip_test, t_interval
from experiments.compare import build_report, main
from experiments.compare.encoding import compare_runs, load_encoding
from experiments.compare.motor import format_cell, group_labels, group_runs, summarise_group
from experiments.compare.runs import CompareError, Run, differing_labels, discover, run_labels
from experiments.run import run_task

pytestmark = pytest.mark.slow  # small real runs of the runner (four); CI runs them, `-m 'not slow'` skips them

ENCODING = ["task=encoding", "task.synthetic.n_subjects=4", "task.synthetic.n_runs=2",
            "task.synthetic.trs_per_run=60", "task.synthetic.n_test_trs=60", "task.synthetic.n_layers=2",
            "task.synthetic.vertices_per_region=8", "task.n_permutations=10", "task.cv=2", "task.delays=[1,2]",
            "task.ceiling=none", "task.min_region_voxels=3"]  # 10 permutations cannot make a ceiling significant: compare raw r
ENCODING_MODELS = ["task.synthetic.n_features=8", "task.synthetic.n_features=4"]
MOTOR = ["task=reach", "task.variants=[bilateral_specialised_cc]", "task.seeds=1", "task.eval_episodes=4",
         "train.max_epochs=1", "train.updates_per_epoch=1", "train.batch_size=2", "train.val_episodes=2",
         "task.episode_steps=4", "agent.widths=[4,4]"]
MOTOR_SEEDS = (0, 1)
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _run(overrides: list[str], out: Path) -> None:
    """One run of the runner into ``out``, with the overrides file Hydra's CLI writes."""
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    run_task(cfg, out)
    (out / ".hydra").mkdir(exist_ok=True)
    (out / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Multirun-shaped directories: encoding/{0,1} (two feature sizes), motor/{0,1} (seed=0,1,
    task.seeds=1) and motor/2, a job that started but never finished."""
    root = tmp_path_factory.mktemp("compare")
    for i, model in enumerate(ENCODING_MODELS):
        _run(ENCODING + [model], root / "encoding" / str(i))
    for i, seed in enumerate(MOTOR_SEEDS):
        _run(MOTOR + [f"seed={seed}"], root / "motor" / str(i))
    unfinished = root / "motor" / "2"
    unfinished.mkdir()
    shutil.copy(root / "motor" / "0" / "config.json", unfinished / "config.json")
    return {"root": root, "encoding": root / "encoding", "motor": root / "motor", "unfinished": unfinished}


@pytest.fixture(scope="session")
def built(runs: dict[str, Path]):
    return build_report([runs["encoding"], runs["motor"]], runs["root"] / "out" / "report.html")


def _metrics(d: Path) -> dict:
    return json.loads((d / "metrics.json").read_text())


def _expected_figures(runs: dict[str, Path]) -> int:
    """Encoding: one alignment figure per feature space, one best-layer map per run and
    space with fsaverage5 vertices; motor (one group): variants, plus lesions if any."""
    spaces, maps = set(), 0
    for d in sorted(runs["encoding"].iterdir()):
        with np.load(d / "encoding.npz") as z:
            spaces |= set(z["spaces"].tolist())
            maps += len(z["spaces"]) if z["vertices"].size else 0
    lesions = any(_metrics(runs["motor"] / str(i))["lesions"].get("bilateral_specialised_cc")
                  for i in range(len(MOTOR_SEEDS)))
    return len(spaces) + maps + 1 + int(lesions)


def test_runs_are_found_labelled_and_unfinished_ones_listed(runs: dict[str, Path], built) -> None:
    assert [r.path for r in built.runs["encoding"]] == [runs["encoding"] / "0", runs["encoding"] / "1"]
    assert [r.path for r in built.runs["motor"]] == [runs["motor"] / "0", runs["motor"] / "1"]
    assert built.labels == {"encoding": ENCODING_MODELS, "motor": [f"seed={s}" for s in MOTOR_SEEDS]}
    assert len(built.warnings) == 1 and str(runs["unfinished"]) in built.warnings[0]
    assert "unfinished" in built.warnings[0]
    page = built.path.read_text()
    assert "unfinished run" in page and str(runs["unfinished"]) in page
    assert "Encoding: normalised brain alignment" in page and "Motor: task=reach" in page


def test_one_embedded_png_per_figure_and_nothing_external(runs: dict[str, Path], built) -> None:
    page = built.path.read_text()
    expected = _expected_figures(runs)
    assert sum(built.figures.values()) == expected
    sources = re.findall(r"<img[^>]*\ssrc='([^']*)'", page)
    assert len(sources) == page.count("<img") == expected
    assert all(s.startswith("data:image/png;base64,") and len(s) > 5000 for s in sources)
    assert not re.search(r"(src|href)=['\"]?(https?:|file:|//)", page)


def test_motor_table_is_the_pooled_seeds_with_scipy_intervals(runs: dict[str, Path], built) -> None:
    metrics = [_metrics(runs["motor"] / str(i)) for i in range(len(MOTOR_SEEDS))]
    group = summarise_group(built.runs["motor"], "g")
    assert group.seeds == list(MOTOR_SEEDS)
    page = built.path.read_text()
    v = "bilateral_specialised_cc"
    for task in ("reach", "hold", "centre_out"):
        for metric in ("position_error", "final_position_error", "effort"):
            # one seed per run: the per-seed value is the run's value (the position error is also kept per seed)
            values = ([m["variants"][v][task]["per_seed"]["position_error"][0] for m in metrics]
                      if metric == "position_error" else [m["variants"][v][task][metric] for m in metrics])
            lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
            cell = group.table[(v, task, metric)]
            assert cell.n == len(values) and cell.over == "seeds"
            assert cell.mean == pytest.approx(np.mean(values), rel=1e-12)
            assert cell.half == pytest.approx((hi - lo) / 2, rel=1e-9)
        pe = group.table[(v, task, "position_error")]
        assert f"{100 * pe.mean:.2f} ± {100 * pe.half:.2f} (2 seeds)" in page
        for lesion in ("silence_left", "silence_right", "cut_callosum"):
            d = [m["lesions"][v][lesion][task]["per_seed"]["position_error"][0]
                 - m["variants"][v][task]["per_seed"]["position_error"][0] for m in metrics]
            lo, hi = stats.t.interval(0.95, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
            effect = group.lesions[(v, lesion, task)][2]
            assert effect.mean == pytest.approx(np.mean(d), rel=1e-9, abs=1e-12)
            assert effect.half == pytest.approx((hi - lo) / 2, rel=1e-9)
            assert format_cell(effect) in page


def test_encoding_alignment_recomputed_as_the_runner_summarises(runs: dict[str, Path], built) -> None:
    for run, label in zip(built.runs["encoding"], built.labels["encoding"]):
        res = load_encoding(run, label)
        assert res.alignment["video"].shape == (4, 6)
        comparison = run.metrics["comparison"]  # the runner's video - audio sign-flip test per region
        per_subject = {s: run.metrics["spaces"][s]["best_layer_alignment_per_subject"] for s in ("video", "audio")}
        for j, region in enumerate(res.region_names):
            a, b = res.alignment["video"][:, j], res.alignment["audio"][:, j]
            for space, values in (("video", a), ("audio", b)):
                np.testing.assert_allclose(values, [np.nan if v is None else v for v in per_subject[space][region]],
                                           rtol=1e-12)
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 2:
                assert comparison["per_region"][region] is None
                continue
            assert np.mean(a[ok] - b[ok]) == pytest.approx(comparison["per_region"][region]["mean_difference"],
                                                           rel=1e-12)
            with pytest.warns(UserWarning, match="smallest attainable") if ok.sum() < 5 else nullcontext():
                p = sign_flip_test(a[ok, None], b[ok, None]).pvalue[0]
            assert p == pytest.approx(comparison["per_region"][region]["pvalue"], rel=1e-12)


def _enumerated_sign_flip_p(d: np.ndarray) -> float:
    """Two-sided exact sign-flip p of mean(d), by enumerating every sign pattern (reference)."""
    observed = abs(d.mean())
    means = [abs(np.dot(signs, d)) / d.size for signs in itertools.product((1.0, -1.0), repeat=d.size)]
    return float(np.mean(np.asarray(means) >= observed - 1e-12))


def test_sign_flip_between_runs_equals_enumeration_with_bh_over_all_tests(built) -> None:
    results = [load_encoding(r, lab) for r, lab in zip(built.runs["encoding"], built.labels["encoding"])]
    tests, notes = compare_runs(results)
    assert notes == [] and [s for s, _, _ in tests.pairs] == ["video", "audio"]
    ps = []
    for row, (space, ia, ib) in enumerate(tests.pairs):
        a, b = results[ia].alignment[space], results[ib].alignment[space]
        for k in range(a.shape[1]):
            ok = np.isfinite(a[:, k]) & np.isfinite(b[:, k])  # subjects with kept voxels in both runs
            cell = tests.cells[row][k]
            if ok.sum() < 2:
                assert cell is None and np.isnan(tests.values("pvalue")[row, k])
                continue
            assert cell["n_subjects"] == ok.sum()
            assert cell["mean_difference"] == pytest.approx(np.mean(a[ok, k] - b[ok, k]), rel=1e-12)
            ref = _enumerated_sign_flip_p(a[ok, k] - b[ok, k])
            assert cell["pvalue"] == pytest.approx(ref, rel=1e-12)
            assert cell["verdict"] == "inconclusive"  # 4 subjects: p >= 2 / 2^4 = 0.125 > alpha
            ps.append(ref)
    qs = tests.values("qvalue").ravel()
    tested = np.isfinite(qs)
    assert tested.sum() == len(ps) >= 2  # the planted regions keep voxels in both runs
    np.testing.assert_allclose(qs[tested], stats.false_discovery_control(ps, method="bh"), rtol=1e-12)
    page = built.path.read_text()
    assert page.count("<td>video</td>") == page.count("<td>audio</td>") == len(tests.regions)
    saved = json.loads(built.path.with_suffix(".json").read_text())["encoding"]["between_runs"]
    assert [(t["space"], t["a"], t["b"]) for t in saved] == [(s, built.labels["encoding"][i],
                                                              built.labels["encoding"][j]) for s, i, j in tests.pairs]
    for t, row in zip(saved, tests.cells):
        assert [None if c is None else c["qvalue"] for c in t["per_region"].values()] == \
            [None if c is None else pytest.approx(c["qvalue"], rel=1e-12) for c in row]


def test_paired_tests_on_planted_data() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(0.4, 0.1, (8, 4))
    a = b + rng.normal(0.0, 0.05, (8, 4))
    a[:, 0] = b[:, 0] + rng.uniform(0.2, 0.4, 8)  # region 0: every subject higher
    a[2, 2] = np.nan  # region 2: one subject missing
    b[1:, 3] = np.nan  # region 3: one subject left, untestable
    (cells,) = paired_runs([a, b], [(0, 1)], [("A", "B")], alpha=0.05)
    assert [None if c is None else c["n_subjects"] for c in cells] == [8, 8, 7, None]
    assert cells[0]["pvalue"] == pytest.approx(2 / 2**8)  # exact: all 8 signs positive
    keep = np.arange(8) != 2
    assert cells[2]["pvalue"] == pytest.approx(_enumerated_sign_flip_p(a[keep, 2] - b[keep, 2]), rel=1e-12)
    assert cells[1]["pvalue"] == pytest.approx(_enumerated_sign_flip_p(a[:, 1] - b[:, 1]), rel=1e-12)
    assert cells[2]["mean_difference"] == pytest.approx(np.mean(a[keep, 2] - b[keep, 2]))
    q = stats.false_discovery_control([c["pvalue"] for c in cells[:3]], method="bh")
    np.testing.assert_allclose([c["qvalue"] for c in cells[:3]], q, rtol=1e-12)
    assert cells[0]["significant"] and cells[0]["verdict"] == "A > B"
    assert [c["significant"] for c in cells[:3]] == (q <= 0.05).tolist()
    assert all(c["verdict"] == "inconclusive" for c in cells[1:3] if not c["significant"])


def test_t_interval_matches_scipy() -> None:
    x = np.random.default_rng(1).normal(2.0, 0.5, 7)
    mean, half, n = t_interval(x)
    lo, hi = stats.t.interval(0.95, 6, loc=x.mean(), scale=stats.sem(x))
    assert (mean, n) == (pytest.approx(x.mean()), 7) and half == pytest.approx((hi - lo) / 2, rel=1e-12)
    assert np.isnan(t_interval([1.0])[1])


def _agg(per_seed: list[float], final: float = 0.5) -> dict:
    return {"position_error": float(np.mean(per_seed)), "position_error_ci95": 0.01, "ci_over": "seeds",
            "final_position_error": final, "final_position_error_ci95": 0.02, "effort": 0.2, "effort_ci95": 0.0,
            "per_seed": {"position_error": per_seed}}


def _fake(path: str, seed: int, seeds: int, lr: float, per_seed: list[float], overrides: list[str]) -> Run:
    config = {"task": {"kind": "motor", "seeds": seeds}, "train": {"learning_rate": lr}, "seed": seed,
              "runtime": {"devices": "auto"}}
    metrics = {"seeds": list(range(seed, seed + seeds)), "variants": {"v": {"reach": _agg(per_seed)}}, "lesions": {}}
    return Run(Path(path), config, metrics, tuple(overrides))


def test_grouping_pools_seed_runs_only_and_keeps_the_first_of_a_repeated_seed() -> None:
    runs = [_fake("m/0", 0, 1, 1e-3, [1.0], ["seed=0"]),
            _fake("m/1", 10, 2, 1e-3, [2.0, 4.0], ["seed=10", "task.seeds=2"]),
            _fake("m/2", 0, 1, 0.1, [9.0], ["seed=0", "train.learning_rate=0.1"]),
            _fake("m/3", 2, 1, 1e-3, [7.0], ["seed=2"]), _fake("m/4", 2, 1, 1e-3, [8.0], ["seed=2"])]
    groups = group_runs(runs)
    assert [[r.path.name for r in g] for g in groups] == [["0", "1", "3", "4"], ["2"]]
    assert group_labels(groups) == ["0, 1, 3, 4", "train.learning_rate=0.1"]
    g = summarise_group(groups[0], "lr 1e-3")
    cell = g.table[("v", "reach", "position_error")]
    assert cell.values == (1.0, 2.0, 4.0, 7.0) and cell.n == 4  # seed 2 of m/4 is a repeat: left out
    assert any("seed 2" in note for note in g.notes)
    # a two-seed run keeps no per-seed final error, so it cannot be pooled
    assert g.table[("v", "reach", "final_position_error")] is None
    lone = summarise_group(groups[1], "x").table[("v", "reach", "final_position_error")]
    assert (lone.mean, lone.half, lone.n) == (0.5, 0.02, 1)  # one run: its own aggregate
    assert format_cell(Cell(0.123, float("nan"), 1, "episodes")) == "12.30 ± n/a (1 seed, CI over episodes)"


def test_labels_fall_back_to_directory_names() -> None:
    assert differing_labels([{"a": "1", "b": "2"}, {"a": "1", "b": "3"}], ["x", "y"]) == ["b=2", "b=3"]
    assert differing_labels([{"a": "1"}, None], ["x", "y"]) == ["x", "y"]
    assert differing_labels([{"a": "1"}, {"a": "1"}], ["x", "y"]) == ["x", "y"]
    # a key missing from one run (its default) differs from a value given
    assert differing_labels([{"a": "1", "b": "2"}, {"a": "2", "b": "2"}, {"a": "2"}], ["x", "y", "z"]) == \
        ["a=1, b=2", "a=2, b=2", "a=2"]
    assert differing_labels([{"a": "1"}, {"a": "2"}, {"a": "2"}], ["x", "y", "z"]) == ["a=1", "a=2 (y)", "a=2 (z)"]
    same_names = [Run(Path(p), {"task": {"kind": "motor"}}, {}, None) for p in ("/r/a/0", "/r/b/0")]
    assert run_labels(same_names) == ["a/0", "b/0"]


def test_clear_errors(tmp_path: Path, runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(CompareError, match="no such directory"):
        discover([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match=r"empty is not a run directory .* holds no run directories"):
        build_report([tmp_path / "empty"])
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "config.json").write_text(json.dumps({"task": {"kind": "bench_envs"}}))
    (bench / "metrics.json").write_text("{}")
    with pytest.raises(CompareError, match=r"bench: runs of kind 'bench_envs' cannot be compared"):
        build_report([bench])
    parent = tmp_path / "parent"  # a benchmark found beside a motor run is skipped, not an error
    shutil.copytree(bench, parent / "bench")
    shutil.copytree(runs["motor"] / "0", parent / "reach")
    (parent / "model").mkdir()
    (parent / "model" / "config.json").write_text(json.dumps({"hidden_size": 8}))  # not a run's config
    chunk = parent / "x_chunk"  # a voxel-chunk job of an encoding run: only its merge is compared
    chunk.mkdir()
    (chunk / "config.json").write_text(json.dumps({"task": {"kind": "encoding", "chunk": 0, "chunks": 2}}))
    (chunk / "metrics.json").write_text(json.dumps({"chunk": 0, "chunks": 2, "voxels": [0, 10]}))
    found = build_report([parent])
    assert [r.path.name for r in found.runs["motor"]] == ["reach"] and list(found.runs) == ["motor"]
    assert len(found.warnings) == 3 and "kind 'bench_envs' cannot be compared" in found.warnings[0]
    assert "without task.kind" in found.warnings[1] and "voxel-chunk job" in found.warnings[2]
    with pytest.raises(CompareError, match="model: runs of kind None"):
        build_report([parent / "model"])
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "metrics.json").write_text("{}")
    with pytest.raises(CompareError, match="orphan: metrics.json but no config.json"):
        build_report([orphan])
    with pytest.raises(CompareError, match="no finished runs.*unfinished run"):
        build_report([runs["unfinished"]])
    assert main([str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_cli_writes_the_default_report_of_a_multirun(runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main([str(runs["motor"])]) == 0
    out = runs["motor"] / "comparison.html"
    captured = capsys.readouterr()
    assert str(out) in captured.out and "unfinished" in captured.err
    assert out.read_text().count("<img") == 2
    assert not list(runs["motor"].glob(".comparison.html.*"))  # the atomic write left no temporary file


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)")
def test_report_renders_in_headless_chromium(runs: dict[str, Path], built, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.get(built.path.resolve().as_uri())
        assert driver.title == "callosum: cross-run comparison"
        widths = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert [e for e in logs if e["level"] == "SEVERE"] == []
    assert len(widths) == _expected_figures(runs) and all(w > 0 for w in widths)


def test_encoding_caption_names_the_ceiling_that_normalised(built) -> None:
    from experiments.compare.encoding import CEILING_NAMES

    page = built.path.read_text()
    used = {run.metrics["ceiling"]["normalises"] for run in built.runs["encoding"]}
    for kind in used:
        assert f"noise ceiling ({CEILING_NAMES[kind]}" in page
    if "split_half" not in used:
        assert "split-half ceiling" not in page.split("Encoding: normalised brain alignment")[1].split("</p>")[0]
    assert "± nan" not in page
