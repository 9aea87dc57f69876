"""Shared test fixtures. Everything runs on CPU without network."""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HEAR_MWMAE_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "official"
EXAMPLE_WAV = REPO / "examples" / "speech.wav"

torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_configure(config):
    # Hub access in tests must never reach the network.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


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
