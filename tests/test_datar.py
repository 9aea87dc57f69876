"""The DATAR-style classifier: configs, forward, input adaptor, HEAR API, checkpoints (docs/design.md §D26)."""

import pytest
import torch

import hear_mwmae
from hear_mwmae.checkpoint import load_checkpoint
from hear_mwmae.config import DatarConfig, get_config
from hear_mwmae.datar import DatarClassifier, InputAdaptor


def test_configs_are_listed_and_checked():
    assert {"datar_tiny", "datar_small"} <= set(hear_mwmae.list_configs())
    cfg = get_config("datar_tiny")
    assert cfg.stage_grids == ((50, 10), (25, 5), (25, 1)) and cfg.frame_ms == 80 and cfg.frame_embedding_size == 256
    with pytest.raises(ValueError, match="merge"):
        get_config("datar_tiny", merges=((2, 3), (1, 5)))
    with pytest.raises(ValueError, match="local_steps"):
        get_config("datar_tiny", local_steps=7)
    with pytest.raises(ValueError, match="one entry per stage"):
        get_config("datar_tiny", depths=(2, 2))
    with pytest.raises(ValueError, match="input_adaptor"):
        get_config("datar_tiny", input_adaptor="mlp")


def test_classifier_forward_backward_reaches_offsets_and_adaptor():
    torch.manual_seed(0)
    model = DatarClassifier(get_config("datar_tiny", num_classes=7, depths=(2, 2, 2)))
    logits = model(torch.randn(3, 200, 80))
    assert logits.shape == (3, 7)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3, 6])).backward()
    deformable = [b for stage in model.encoder.stages for b in stage if b.kind == "deformable"]
    assert len(deformable) == 3  # local, deformable in each of the 3 stages
    # The offset nets' last conv starts at zero, but its gradient is not zero: training moves the samples.
    assert all(b.attn.offset_net.proj.weight.grad.abs().sum() > 0 for b in deformable)
    assert model.encoder.adaptor.conv[2].weight.grad.abs().sum() > 0


def test_input_adaptor_starts_as_the_identity_and_can_be_switched_off():
    x = torch.randn(2, 200, 80)
    torch.testing.assert_close(InputAdaptor(80)(x), x)
    off = DatarClassifier(get_config("datar_tiny", input_adaptor="none"))
    assert isinstance(off.encoder.adaptor, torch.nn.Identity)
    assert off.num_params() < DatarClassifier(get_config("datar_tiny")).num_params()


def test_hear_api_on_random_datar():
    model = hear_mwmae.load_model("random:datar_tiny")
    audio = torch.randn(2, 3 * 16000) * 0.1
    emb, ts = hear_mwmae.get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, 38, 256) and model.timestamp_embedding_size == 256
    torch.testing.assert_close(ts[0], (torch.arange(38) + 0.5) * 80.0)
    scene = hear_mwmae.get_scene_embeddings(audio, model)
    assert scene.shape == (2, 256) and torch.isfinite(scene).all()
    with pytest.raises(ValueError, match="last stage"):
        hear_mwmae.load_model("random:datar_tiny", embedding_layer=2)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = DatarClassifier(get_config("datar_tiny", num_classes=5)).eval()
    model.save_pretrained(tmp_path / "datar")
    back = load_checkpoint(tmp_path / "datar")
    assert isinstance(back, DatarClassifier) and isinstance(back.config, DatarConfig)
    x = torch.randn(2, 200, 80)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
        assert torch.equal(model(x), DatarClassifier.from_pretrained(str(tmp_path / "datar"))(x))
    audio = torch.randn(1, 16000) * 0.1
    a = hear_mwmae.load_model(str(tmp_path / "datar")).scene_embeddings(audio)
    b = hear_mwmae.HearModel(model.encoder).scene_embeddings(audio)
    assert torch.equal(a, b)
