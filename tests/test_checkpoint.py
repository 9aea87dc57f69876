"""Our checkpoint format: round trips, refusals and clear errors. Nothing unpickles."""

import json
import pickle
import shutil

import pytest
import torch

import hear_mwmae
from hear_mwmae import CheckpointError, CheckpointNotFoundError, MaskedAutoencoder, ModelConfig, get_config
from hear_mwmae.checkpoint import BUNDLED_DIR, load_checkpoint, parse_hub_ref


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = MaskedAutoencoder(get_config("mwmae_tiny", depth=1, decoder_depth=1)).eval()
    model.save_pretrained(tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_save_pretrained_round_trip(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) == ["README.md", "config.json", "model.safetensors"]
    assert ModelConfig.from_dict(json.loads((path / "config.json").read_text())) == model.config
    for loaded in (MaskedAutoencoder.from_pretrained(path), load_checkpoint(str(path))):
        assert loaded.config == model.config
        for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
            assert k == k2 and torch.equal(a, b)


def test_lone_safetensors_file_carries_its_config(saved, tmp_path):
    model, path = saved
    lone = tmp_path / "elsewhere" / "weights.safetensors"
    lone.parent.mkdir()
    shutil.copy(path / "model.safetensors", lone)
    assert load_checkpoint(str(lone)).config == model.config


def test_pickles_are_refused(tmp_path, saved):
    model, _ = saved
    for name in ("model.pt", "model.pth", "pytorch_model.bin", "last.ckpt"):
        torch.save(model.state_dict(), tmp_path / name)
        with pytest.raises(CheckpointError, match="pickle"):
            hear_mwmae.load_model(str(tmp_path / name))
    disguised = tmp_path / "weights.data"
    disguised.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(str(disguised))


def test_pytorch_model_bin_is_never_a_fallback(saved):
    """A directory with only a pickle (like an old Hub repo) is refused, not unpickled."""
    model, path = saved
    (path / "model.safetensors").unlink()
    torch.save(model.state_dict(), path / "pytorch_model.bin")
    with pytest.raises(CheckpointNotFoundError, match="model.safetensors"):
        load_checkpoint(str(path))


def test_missing_and_truncated_files(tmp_path, saved):
    _, path = saved
    with pytest.raises(CheckpointNotFoundError, match="does not exist.*convert"):
        hear_mwmae.load_model(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointNotFoundError, match="neither config.json"):
        hear_mwmae.load_model(str(empty))
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        hear_mwmae.load_model(str(path))


def test_shapes_that_do_not_match_the_config(saved):
    model, path = saved
    cfg = model.config.to_dict() | {"embed_dim": 96, "num_heads": 3}
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shapes that do not match the config"):
        hear_mwmae.load_model(str(path))
    (path / "config.json").write_text(json.dumps(model.config.to_dict() | {"depth": 2}))
    with pytest.raises(CheckpointError, match="missing"):
        hear_mwmae.load_model(str(path))
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        hear_mwmae.load_model(str(path))
    (path / "config.json").write_text(json.dumps(model.config.to_dict() | {"variant": "vit"}))
    with pytest.raises(CheckpointError, match="invalid config"):
        hear_mwmae.load_model(str(path))


def test_empty_default_names_the_ways_to_get_weights():
    if (BUNDLED_DIR / "model.safetensors").is_file():
        assert hear_mwmae.load_model().scene_embedding_size > 0
        return
    with pytest.raises(CheckpointNotFoundError) as info:
        hear_mwmae.load_model()
    message = str(info.value)
    for way in ("hear-mwmae convert", "hf://", "random:"):
        assert way in message


def test_hub_reference_parsing():
    assert parse_hub_ref("hf://owner/name") == ("owner/name", None)
    assert parse_hub_ref("hf://owner/name@v1.0") == ("owner/name", "v1.0")
    for bad in ("hf://name", "hf://a/b/c", "hf:///x"):
        with pytest.raises(ValueError, match="bad Hub reference"):
            parse_hub_ref(bad)


def test_model_file_path_type():
    with pytest.raises(TypeError, match="model_file_path"):
        hear_mwmae.load_model(3)


def test_writes_are_atomic(saved, monkeypatch):
    """A failed save leaves the previous checkpoint intact and no temp files behind."""
    model, path = saved
    before = (path / "model.safetensors").read_bytes()
    import hear_mwmae.checkpoint_format as ck

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(path)
    assert (path / "model.safetensors").read_bytes() == before
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    # the Hub mixin removes config.json before saving; the config in the weights' header still loads it
    assert load_checkpoint(str(path)).config == model.config


def test_atomic_savez_round_trip_and_failure(tmp_path):
    """Arrays round-trip; a write that fails half-way leaves the old archive and no temp file."""
    import numpy as np

    from hear_mwmae.atomic import atomic_savez

    path = tmp_path / "emb.npz"
    atomic_savez(path, {"a/scene": np.arange(6.0).reshape(2, 3), "b": np.ones(4, np.float16)})
    with np.load(path) as z:
        assert sorted(z.files) == ["a/scene", "b"]
        assert np.array_equal(z["a/scene"], np.arange(6.0).reshape(2, 3)) and z["b"].dtype == np.float16
    before = path.read_bytes()

    class Unsaveable:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("cannot convert")

    with pytest.raises(RuntimeError, match="cannot convert"):
        atomic_savez(path, {"ok": np.zeros(3), "bad": Unsaveable()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npz"]
