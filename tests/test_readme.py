"""Every command README.md shows runs: here, or (the fresh-venv install and the test command) in .ci/run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REPO

README = REPO / "README.md"
# What .ci/run itself does: a fresh venv with the package installed (then the quick start's last
# command runs here), and the test command.
RUN_BY_CI = {"bash .ci/run"}
QUICK_START_PREFIX = 'python3 -m venv .venv && .venv/bin/pip install "torch==2.14.1" "torchaudio==2.11.0" . && .venv/bin/'
# README's placeholders for files a reader has and a test does not.
SUBSTITUTIONS = {"path/to/mwmae_base_200_4x16_8x128_default_bfloat16_run1": str(FIXTURES / "mwmae_micro")}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _commands() -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  # ")[0].strip()
            if line:
                lines.append(line)
    return lines


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the checkout's examples/ where README's relative paths work."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "examples", work / "examples")
    return work


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    for placeholder, value in SUBSTITUTIONS.items():
        command = command.replace(placeholder, value)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_readme_is_a_front_page():
    assert len(README.read_text().splitlines()) <= 200
    for target in re.findall(r"\]\(((?:docs/|DEVELOPERS)[^)#]+)", README.read_text()):
        assert (REPO / target).is_file(), f"README links to a missing {target}"


def test_every_bash_command_runs(workdir):
    commands = _commands()
    assert any(c.startswith(QUICK_START_PREFIX) for c in commands), "the quick start command changed"
    ran = 0
    for command in commands:
        if command in RUN_BY_CI:
            continue
        if command.startswith(QUICK_START_PREFIX):  # .ci/run makes the fresh venv; its embed step runs here
            command = command[len(QUICK_START_PREFIX):]
        done = _run(command, workdir)
        assert done.returncode == 0, f"README command failed: {command}\n{done.stderr[-3000:]}"
        ran += 1
    assert ran >= 5
    # The quick start's promised outputs.
    out = workdir / "out"
    assert np.load(out / "speech.wav.scene.npy").shape == (960,)
    assert np.load(out / "speech.wav.timestamp.npy").shape == (287, 960)
    assert np.load(out / "speech.wav.timestamps_ms.npy").shape == (287,)
    assert (out / "embed_report.json").is_file() and (workdir / "mwmae_base" / "model.safetensors").is_file()


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_every_python_block_runs(index, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    exec(compile(_blocks("python")[index], f"README.md python block {index + 1}", "exec"), {})
