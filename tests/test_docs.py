"""The documentation site builds offline with warnings as errors, running the gallery: each
example's figure appears in its built page, the API pages document the public faces, and no
page loads a script or style sheet from the network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("plot_*.py"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh build (its own doctree and gallery folders, so an earlier build is not reused)."""
    out = tmp_path_factory.mktemp("docs")
    env = {**os.environ, "MPLBACKEND": "Agg", "CALLOSUM_DOCS_RERUN": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html", "-d", str(out / "doctrees"),
         str(DOCS), str(out / "html")],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return out / "html"


def test_the_gallery_has_the_four_examples() -> None:
    assert [p.stem for p in EXAMPLES] == ["plot_bilateral_training", "plot_encoding_ceiling", "plot_gym_rollout",
                                          "plot_jax_gradient"]


@pytest.mark.slow
def test_each_example_draws_its_figure_into_its_page(site: Path) -> None:
    for example in EXAMPLES:
        page = (site / "auto_examples" / f"{example.stem}.html").read_text()
        images = re.findall(rf'src="([^"]*sphx_glr_{example.stem}_\d+\.png)"', page)
        assert images, f"no figure of {example.name} in its page"
        for src in images:
            png = (site / "auto_examples" / src).resolve()
            assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


@pytest.mark.slow
def test_the_api_pages_document_the_public_faces(site: Path) -> None:
    page = (site / "api.html").read_text()
    for name in ("envs.FunctionalArmEnv", "envs.make_functional", "agents.Trainer", "agents.BilateralController",
                 "brain.RidgeEncoder", "brain.split_half_reliability", "experiments.run.run_task",
                 "experiments.settings.typed_settings"):
        assert f'id="{name}"' in page, name


@pytest.mark.slow
def test_the_pages_load_nothing_from_the_network(site: Path) -> None:
    remote = re.compile(r'<(?:script|link|img)[^>]*(?:src|href)="(?:https?:)?//[^"]*"')
    found = {str(p.relative_to(site)): remote.findall(p.read_text()) for p in site.rglob("*.html")}
    assert not {k: v for k, v in found.items() if v}
    assert (site / "guide" / "arm.html").is_file() and (site / "results" / "benchmarks.html").is_file()
