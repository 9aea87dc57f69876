"""Shared test fixtures. Everything runs on CPU without network.

Hub tests talk to ``tests/hub_server.py``, a local Hub-compatible server started in ``pytest_configure``:
huggingface_hub reads HF_ENDPOINT / HF_HUB_DISABLE_XET / HF_HUB_OFFLINE when it is imported (and
hear_mwmae imports it), so the server must be up and the environment set before any test module loads.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import json

import msgpack
import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HEAR_MWMAE_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "official"
EXAMPLE_WAV = REPO / "examples" / "speech.wav"

torch.set_num_threads(min(2, os.cpu_count() or 1))


# ---- the local Hub server ---------------------------------------------------------------------
HUB_SERVER = Path(__file__).with_name("hub_server.py")
HUB_USER = "test-user"
HUB_TOKEN = "hf_test_token_for_the_local_hub_server"
HUB_START_TIMEOUT_S = 20
# Variables that would send huggingface_hub elsewhere than our server and temp cache.
_HF_VARS_TO_CLEAR = ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_XET_CACHE", "HF_ASSETS_CACHE",
                     "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN")


@dataclass
class HubServer:
    url: str | None = None
    home: Path | None = None  # HF_HOME of this test run
    log: Path | None = None  # the server's stderr (request log, tracebacks)
    error: str | None = None  # why the server is unusable, if it is
    token: str = HUB_TOKEN
    user: str = HUB_USER
    process: subprocess.Popen | None = None
    tmp: Path | None = None


_HUB = HubServer()


def _start_hub_server() -> None:
    """Start the server on a free port and point huggingface_hub at it (env only; nothing imported)."""
    _HUB.tmp = Path(tempfile.mkdtemp(prefix="hear_mwmae_hub_"))
    _HUB.home, _HUB.log = _HUB.tmp / "hf_home", _HUB.tmp / "server.log"
    # Never the real Hub: until the server answers, the endpoint is a port nobody listens on.
    os.environ.update(HF_ENDPOINT="http://127.0.0.1:9", HF_TOKEN=HUB_TOKEN, HF_HUB_DISABLE_XET="1",
                      HF_HOME=str(_HUB.home), HF_HUB_DISABLE_TELEMETRY="1")
    for var in _HF_VARS_TO_CLEAR:
        os.environ.pop(var, None)
    if "huggingface_hub" in sys.modules:  # its constants already hold the old environment
        _HUB.error = "huggingface_hub was imported before pytest_configure, so HF_ENDPOINT etc. cannot take effect"
        return
    with open(_HUB.log, "wb") as log:  # a file, not a pipe: a full pipe would block the server
        _HUB.process = subprocess.Popen(
            [sys.executable, str(HUB_SERVER), "--port", "0", "--root", str(_HUB.tmp / "server"),
             "--token", HUB_TOKEN, "--user", HUB_USER, "--exit-with-stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)  # it exits when our stdin pipe closes
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(_HUB.process.stdout.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=HUB_START_TIMEOUT_S).decode().strip()
    except queue.Empty:
        first = ""
    if not first.startswith("http://"):
        _HUB.error = f"hub server did not start: {first!r}; log: {_HUB.log.read_text(errors='replace')[-2000:]}"
        return
    _HUB.url = os.environ["HF_ENDPOINT"] = first


def _stop_hub_server() -> None:
    proc = _HUB.process
    if proc is not None:
        for stream in (proc.stdin, proc.stdout):
            stream.close()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _HUB.process = None
    if _HUB.tmp is not None:
        shutil.rmtree(_HUB.tmp, ignore_errors=True)


def pytest_configure(config):
    # The task builders (and their subprocesses) find shared/ through this variable.
    os.environ.setdefault("HEAR_MWMAE_SHARED", str(SHARED))
    # Hub access in tests must never reach the network: everything goes to the local server.
    _start_hub_server()


def pytest_unconfigure(config):
    _stop_hub_server()


@pytest.fixture(scope="session")
def hub() -> HubServer:
    """The local Hub server (url, token, user, HF_HOME); fails the test if it is not running."""
    if _HUB.error or _HUB.process is None or _HUB.process.poll() is not None:
        pytest.fail(f"local Hub server unavailable: {_HUB.error or 'it exited'} (log: {_HUB.log})")
    return _HUB


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"official fixtures not found at {FIXTURES}; set HEAR_MWMAE_SHARED to the shared/ folder")
    return FIXTURES


@pytest.fixture(scope="session", params=["mwmae_micro", "mae_micro"])
def official(request, fixtures_dir):
    """(name, fixture folder, reference outputs) for both official micro models."""
    folder = fixtures_dir / request.param
    return request.param, folder, dict(np.load(folder / "reference_outputs.npz"))


@pytest.fixture(scope="module")
def mw(fixtures_dir):
    """The official MW-MAE micro checkpoint as a full model (loaded once per test module)."""
    from hear_mwmae.checkpoint import load_checkpoint

    return load_checkpoint(fixtures_dir / "mwmae_micro")


@pytest.fixture(scope="module")
def mae(fixtures_dir):
    """The official MAE micro checkpoint as a full model (loaded once per test module)."""
    from hear_mwmae.checkpoint import load_checkpoint

    return load_checkpoint(fixtures_dir / "mae_micro")


@pytest.fixture(scope="session")
def converted_dir(tmp_path_factory, fixtures_dir) -> Path:
    """The MW-MAE micro fixture converted to our format with the CLI."""
    from hear_mwmae.cli import main

    out = tmp_path_factory.mktemp("converted") / "mwmae_micro"
    assert main(["convert", str(fixtures_dir / "mwmae_micro"), str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def micro_model(converted_dir):
    import hear_mwmae

    return hear_mwmae.load_model(str(converted_dir))


# ---- writing official-format msgpack files (Flax's ndarray ext encoding) ------------------
def _ext_default(obj):
    if isinstance(obj, np.ndarray):
        payload = msgpack.packb([list(obj.shape), obj.dtype.name, obj.tobytes()], use_bin_type=True)
        return msgpack.ExtType(1, payload)
    raise TypeError(type(obj))


def write_flax_msgpack(path: Path, tree: dict) -> Path:
    """Serialise a nested dict of numpy arrays the way flax.serialization.msgpack_serialize does."""
    path.write_bytes(msgpack.packb(tree, default=_ext_default, use_bin_type=True))
    return path


def nest(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


# ---- a tiny real-audio HEAR task (for probes and fine-tuning) -----------------------------
def tone_task(root, sr=16000, rate_dir="16000", folds=5, per_fold=4):
    """A 2-class HEAR task (low vs high tones), ``folds`` x ``per_fold`` clips of 0.5 s, in HEAR layout."""
    task = root / "tones-1.0"
    rng = np.random.default_rng(0)
    t = np.arange(int(0.5 * sr)) / sr
    (task / rate_dir).mkdir(parents=True)
    for fold in range(folds):
        entries = {}
        (task / rate_dir / f"fold{fold:02d}").mkdir()
        for i in range(per_fold):
            label = i % 2
            f0 = (300 if label == 0 else 3000) * rng.uniform(0.9, 1.1)
            audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(len(t))
            name = f"clip{fold}{i}.wav"
            sf.write(task / rate_dir / f"fold{fold:02d}" / name, audio.astype(np.float32), sr)
            entries[name] = [["low", "high"][label]]
        (task / f"fold{fold:02d}.json").write_text(json.dumps(entries))
    (task / "labelvocabulary.csv").write_text("idx,label\n0,low\n1,high\n")
    meta = {"task_name": "tones", "embedding_type": "scene", "prediction_type": "multiclass",
            "split_mode": "new_split_kfold", "nfolds": folds, "splits": [f"fold{i:02d}" for i in range(folds)]}
    (task / "task_metadata.json").write_text(json.dumps(meta))
    return task
