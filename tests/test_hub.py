"""Hugging Face Hub upload and download, for real, against the local server started in conftest.py.

The unmodified huggingface_hub client talks HTTP to ``tests/hub_server.py`` on 127.0.0.1 (HF_ENDPOINT,
HF_TOKEN, HF_HUB_DISABLE_XET=1, a temporary HF_HOME; see conftest.py). Each test uses its own repo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile
from safetensors.torch import load_file

import hear_mwmae
from hear_mwmae import CheckpointNotFoundError, MaskedAutoencoder, get_config
from hear_mwmae.checkpoint_format import PICKLE_SUFFIXES
from hear_mwmae.hear import HearModel

REPO = Path(__file__).resolve().parents[1]
# huggingface_hub's LFS PUT passes a file object as `data=`, which httpx2 flags; not our code.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


def tiny_model(seed: int) -> MaskedAutoencoder:
    """A few-MB model whose weights no fresh initialisation reproduces (so a load that ignored them fails)."""
    torch.manual_seed(seed)
    model = MaskedAutoencoder(get_config("mwmae_tiny", depth=1, decoder_depth=1))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def audio() -> torch.Tensor:
    return torch.randn(2, 16000, generator=torch.Generator().manual_seed(123)) * 0.1


def assert_same_state(got: torch.nn.Module, want: torch.nn.Module) -> None:
    got_sd, want_sd = got.state_dict(), want.state_dict()
    assert sorted(got_sd) == sorted(want_sd)
    for key, value in want_sd.items():
        assert got_sd[key].dtype == value.dtype, key
        assert torch.equal(got_sd[key], value), f"{key} differs"


def plain(config) -> dict:
    """A config as it reads back from config.json (tuples become lists)."""
    return json.loads(json.dumps(config.to_dict()))


@pytest.fixture
def repo_id(request, hub) -> str:
    """A repo id no other test uses (the server keeps state for the whole run)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60].strip("-.")
    return f"{hub.user}/{name}-{uuid.uuid4().hex[:8]}"


def test_push_to_hub_then_from_pretrained_roundtrip(repo_id):
    model = tiny_model(0)
    commit = model.push_to_hub(repo_id)
    assert re.fullmatch(r"[0-9a-f]{40}", commit.oid)
    assert commit.commit_url.endswith(f"/{repo_id}/commit/{commit.oid}")

    loaded = MaskedAutoencoder.from_pretrained(repo_id)
    assert loaded.config == model.config
    assert_same_state(loaded, model)
    assert not loaded.training


def test_load_model_from_hub_gives_the_same_embeddings(repo_id):
    model = tiny_model(1)
    model.push_to_hub(repo_id)

    hear_model = hear_mwmae.load_model(f"hf://{repo_id}")
    assert isinstance(hear_model, HearModel)
    local = HearModel(model.encoder)
    x = audio()
    got = hear_mwmae.get_scene_embeddings(x, hear_model)
    want = hear_mwmae.get_scene_embeddings(x, local)
    assert got.shape == (2, local.scene_embedding_size)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    got_ts, ts = hear_mwmae.get_timestamp_embeddings(x, hear_model)
    want_ts, want_ts_times = hear_mwmae.get_timestamp_embeddings(x, local)
    torch.testing.assert_close(got_ts, want_ts, rtol=0, atol=0)
    torch.testing.assert_close(ts, want_ts_times)
    # ...and the weights matter: another model's embeddings are not these.
    other = hear_mwmae.get_scene_embeddings(x, HearModel(tiny_model(99).encoder))
    assert not torch.allclose(got, other)


def test_revisions_select_the_pushed_weights(repo_id):
    first_model, second_model = tiny_model(2), tiny_model(3)
    first = first_model.push_to_hub(repo_id).oid
    second = second_model.push_to_hub(repo_id).oid  # config and model card unchanged: only the weights change
    assert first != second

    assert_same_state(hear_mwmae.load_model(f"hf://{repo_id}@{first}").encoder, first_model.encoder)
    assert_same_state(hear_mwmae.load_model(f"hf://{repo_id}@{second}").encoder, second_model.encoder)
    assert_same_state(hear_mwmae.load_model(f"hf://{repo_id}@main").encoder, second_model.encoder)
    assert_same_state(hear_mwmae.load_model(f"hf://{repo_id}").encoder, second_model.encoder)
    commits = [c.commit_id for c in HfApi().list_repo_commits(repo_id)]
    assert commits[:2] == [second, first]


def test_missing_repo_raises_a_clear_error(hub):
    with pytest.raises(CheckpointNotFoundError) as err:
        hear_mwmae.load_model(f"hf://{hub.user}/does-not-exist")
    message = str(err.value)
    assert f"hf://{hub.user}/does-not-exist" in message
    assert "does not exist" in message
    assert isinstance(err.value.__cause__, RepositoryNotFoundError)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)


def test_missing_revision_raises_a_clear_error(repo_id):
    tiny_model(4).push_to_hub(repo_id)
    with pytest.raises(CheckpointNotFoundError) as err:
        hear_mwmae.load_model(f"hf://{repo_id}@no-such-branch")
    assert f"hf://{repo_id}@no-such-branch" in str(err.value)
    assert str(err.value).count("no-such-branch") >= 2  # named in the cause too, not only in the ref
    assert isinstance(err.value.__cause__, RevisionNotFoundError)


def test_repo_without_weights_raises_a_clear_error(repo_id):
    api = HfApi()
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=json.dumps(plain(get_config("mwmae_tiny"))).encode(),
                    path_in_repo="config.json", repo_id=repo_id)
    with pytest.raises(CheckpointNotFoundError) as err:
        hear_mwmae.load_model(f"hf://{repo_id}")
    assert repo_id in str(err.value) and "model.safetensors" in str(err.value)


def test_wrong_token_fails_the_push_clearly(repo_id):
    with pytest.raises(HfHubHTTPError) as err:
        tiny_model(5).push_to_hub(repo_id, token="hf_not_the_right_token")
    assert err.value.response.status_code == 401
    assert "Invalid credentials in Authorization header" in str(err.value)
    assert not HfApi().repo_exists(repo_id)  # nothing was created with the bad token
    # A wrong token is refused on reads too (not mistaken for a missing repo).
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="hf_not_the_right_token").model_info(repo_id)
    assert err.value.response.status_code == 401 and not isinstance(err.value, RepositoryNotFoundError)


def test_repo_holds_config_and_safetensors_and_no_pickle(repo_id):
    model = tiny_model(6)
    model.push_to_hub(repo_id)

    files = {f.path: f for f in HfApi().list_repo_tree(repo_id, recursive=True) if isinstance(f, RepoFile)}
    assert {"config.json", "model.safetensors"} <= set(files), sorted(files)
    assert not [p for p in files if p.lower().endswith(PICKLE_SUFFIXES)], sorted(files)

    config = json.loads(Path(hf_hub_download(repo_id, "config.json")).read_text())
    assert config == plain(model.config)
    weights = Path(hf_hub_download(repo_id, "model.safetensors"))
    data = weights.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    assert data[8:9] == b"{" and 0 < header_len < len(data)  # a safetensors header, not pickle/zip magic
    assert files["model.safetensors"].lfs is not None  # stored through the LFS batch + PUT path
    assert files["model.safetensors"].lfs.sha256 == hashlib.sha256(data).hexdigest()
    state = load_file(str(weights))
    want = model.state_dict()
    assert sorted(state) == sorted(want) and all(torch.equal(state[k], want[k]) for k in want)


OFFLINE_SCRIPT = """
import sys
import numpy as np, torch
import huggingface_hub.constants, hear_mwmae
repo, uncached, audio_path, out_path, threads = sys.argv[1:6]
torch.set_num_threads(int(threads))
assert huggingface_hub.constants.HF_HUB_OFFLINE, "HF_HUB_OFFLINE=1 was not picked up"
model = hear_mwmae.load_model("hf://" + repo)
emb = hear_mwmae.get_scene_embeddings(torch.from_numpy(np.load(audio_path)), model)
np.save(out_path, emb.numpy())
try:
    hear_mwmae.load_model("hf://" + uncached)
except hear_mwmae.CheckpointNotFoundError as e:
    print("UNCACHED ERROR:", " ".join(str(e).split()))
else:
    print("UNCACHED LOADED")
"""


def _dead_endpoint() -> str:
    with socket.socket() as s:  # a port that was free a moment ago and that nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_offline_mode_loads_from_the_cache(repo_id, hub, tmp_path):
    model, uncached = tiny_model(7), f"{repo_id}-uncached"
    model.push_to_hub(repo_id)
    tiny_model(8).push_to_hub(uncached)  # on the server, never downloaded
    x = audio()
    online = hear_mwmae.get_scene_embeddings(x, hear_mwmae.load_model(f"hf://{repo_id}"))  # fills the cache
    np.save(tmp_path / "audio.npy", x.numpy())

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": _dead_endpoint(), "HF_HOME": str(hub.home)}
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, repo_id, uncached, str(tmp_path / "audio.npy"),
         str(tmp_path / "emb.npy"), str(torch.get_num_threads())],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), online.numpy(), rtol=1e-6, atol=1e-7)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("UNCACHED")), "")
    assert line.startswith("UNCACHED ERROR:"), result.stdout + result.stderr[-3000:]
    assert f"hf://{uncached}" in line and "cache" in line, line
