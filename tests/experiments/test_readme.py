"""Every runner command the README and the documentation pages show passes the runner's up-front checks as written:
it composes (known keys, types, choices) and every check a run or each job of a sweep makes
before it writes anything accepts it. Commands with a placeholder for the user's own files
or cluster are left out, and so are those that read what the command before them wrote
(tests/experiments/test_chunks.py and test_features.py run those pairs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from experiments.validate import check_jobs, preflight, sweep_jobs

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
PAGES = [README] + sorted(p for p in (ROOT / "docs").rglob("*") if p.suffix in (".rst", ".md")
                          and "_build" not in p.parts and "auto_examples" not in p.parts)
USER_FILES = ("movie.mp4", "speech.wav", "/models/", "task.data=files")  # the user's own data and models
CHAINED = ("task.merge=multirun/enc", "task.stimulus_features.file=runs/demo_features/",
           "task.bids.root=study")  # the outputs of the line above


def readme_commands(pages: list[Path] = PAGES) -> list[str]:
    """``python -m experiments.run ...`` as the README and the docs pages write it (code
    blocks and tables), comments cut, once each."""
    found = [c for page in pages for c in re.findall(r"python -m experiments\.run\b[^`\n|]*", page.read_text())]
    return list(dict.fromkeys(c.split("  #")[0].strip() for c in found))


def runnable(command: str) -> bool:
    return not ("<" in command or command.endswith("\\") or "--cfg" in command
                or any(s in command for s in USER_FILES + CHAINED))


COMMANDS = [c for c in readme_commands() if runnable(c)]


def test_the_readme_has_the_examples_this_file_checks() -> None:
    """The parser finds the main command, the sweeps and the launchers (a README reworded so
    that nothing matches would otherwise pass unnoticed)."""
    assert "python -m experiments.run task=reach" in COMMANDS
    assert sum(" -m " in c for c in COMMANDS) >= 4
    assert len(COMMANDS) >= 14  # 19 before the five task=bench_* commands left the runner (python -m benchmarks)
    docs = [c for c in readme_commands(PAGES[1:]) if runnable(c)]
    assert "python -m experiments.run task=paper" in docs and sum(" -m " in c for c in docs) >= 4


def test_no_page_runs_a_benchmark_through_the_runner() -> None:
    """The benchmarks have their own command (``python -m benchmarks <name>``)."""
    assert not [c for c in readme_commands() if "task=bench_" in c]


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_passes_the_up_front_checks(command: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default runs/ and multirun/ folders are new here
    args = shlex.split(command)[3:]
    sweep = "-m" in args
    args = [a for a in args if a != "-m"]
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        if sweep:
            jobs = sweep_jobs(args)
            assert len(jobs) >= 2, jobs
            check_jobs(jobs)
        else:
            preflight(compose(config_name="config", overrides=args, return_hydra_config=True))
    assert not any(tmp_path.iterdir()), "a check wrote something"


def test_the_bids_commands_of_the_docs_pass_on_the_studies_they_generate(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """The encoding guide's BIDS commands, as written, are what the ``python -m
    brain.bids_example <dir> ...`` line above each prints, and pass the up-front checks on the
    study it writes (one scrubs the planted high-motion volumes); the one with a repeated
    training clip is refused without its ``task.cv=by_stimulus``, as the guide says."""
    from brain.bids_example import main

    monkeypatch.chdir(tmp_path)
    guide = (ROOT / "docs" / "guide" / "encoding.rst").read_text()
    documented = [c for c in readme_commands([ROOT / "docs" / "guide" / "encoding.rst"]) if "task.data=bids" in c]
    assert len(documented) == 4 and sum("task.cv=by_stimulus" in c for c in documented) == 1
    assert sum("task.bids.confounds=[motion,scrub]" in c for c in documented) == 1
    assert sum("task.bids.space=fsaverage5" in c for c in documented) == 1
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        for command in documented:
            root = re.search(r"task\.bids\.root=(\S+)", command).group(1)
            generator = re.search(rf"python -m brain\.bids_example {root}( [^#\n]*)?(  #|\n)", guide)
            assert generator, f"no generator line for {root}"
            main(shlex.split(f"{root} {generator.group(1) or ''}"))
            assert capsys.readouterr().out.strip().splitlines()[-1] == command
            preflight(compose(config_name="config", overrides=shlex.split(command)[3:], return_hydra_config=True))
            if "task.cv=by_stimulus" in command:
                default_cv = shlex.split(command.replace(" task.cv=by_stimulus", ""))[3:]
                with pytest.raises(ValueError, match=r"training stimulus 'clip01' is shown in 2 runs .*task.cv=by_stimulus"):
                    preflight(compose(config_name="config", overrides=default_cv, return_hydra_config=True))
