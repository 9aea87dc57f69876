"""Official Flax checkpoint -> our format: names, shapes, completeness, file handling."""

import json
import shutil

import numpy as np
import pytest
import torch

import hear_mwmae
from hear_mwmae import MaskedAutoencoder, get_config
from hear_mwmae.checkpoint import CheckpointError, load_checkpoint, load_official
from hear_mwmae.cli import main
from hear_mwmae.flax_checkpoint import ConversionError, convert_params, infer_config, read_flax_params

from conftest import nest, write_flax_msgpack


def _synthetic_base(fixtures_dir, key):
    """Random arrays with the exact names/shapes of an official Base tree."""
    tree = json.loads((fixtures_dir / "base_param_trees.json").read_text())[key]
    rng = np.random.default_rng(0)
    return {k[len("params/"):]: rng.standard_normal(shape).astype(np.float32)
            for k, shape in tree.items() if k.startswith("params/")}


@pytest.mark.parametrize("key, preset, count", [
    ("mwmae_base_200_4x16_precomputed", "mwmae_base", 92_814_576),
    ("mae_base_200_4x16_precomputed", "mae_base", 92_814_784),
])
def test_synthetic_base_tree_fills_our_base_model(fixtures_dir, key, preset, count):
    params = _synthetic_base(fixtures_dir, key)
    assert sum(a.size for a in params.values()) == count
    config = infer_config(params)
    assert config == get_config(preset)  # sizes, heads, windows, cls all recovered from shapes
    model = MaskedAutoencoder(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = convert_params(params, config, expected)
    assert set(state) == set(expected) and sum(a.size for a in state.values()) == count
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    # spot-check the transforms: Dense kernel transposed, conv kernel permuted, table squeezed
    np.testing.assert_array_equal(model.encoder.blocks[3].attn.qkv.weight.detach().numpy(),
                                  params["encoder_block_03/Attention_0/Dense_0/kernel"].T)
    np.testing.assert_array_equal(model.encoder.patch_embed.proj.weight.detach().numpy(),
                                  params["patch_embed/proj/kernel"].transpose(3, 2, 0, 1))
    if preset == "mwmae_base":
        np.testing.assert_array_equal(model.decoder.blocks[2].attn.relative_position_bias["head4"].detach().numpy(),
                                      params["decoder_block_02/wmha_block/attn_heads_4/relative_position_bias_table"][:, 0])


def test_unconsumed_and_missing_params_are_reported(fixtures_dir):
    params = _synthetic_base(fixtures_dir, "mwmae_base_200_4x16_precomputed")
    config = infer_config(params)
    expected = {k: tuple(v.shape) for k, v in MaskedAutoencoder(config).state_dict().items()}
    extra = dict(params, **{"encoder_block_00/extra/kernel": np.zeros((2, 2), np.float32)})
    with pytest.raises(ConversionError, match="not consumed.*encoder_block_00/extra/kernel"):
        convert_params(extra, config, expected)
    missing = {k: v for k, v in params.items() if k != "encoder_block_05/Mlp_0/Dense_1/bias"}
    with pytest.raises(ConversionError, match="lacks 1 parameters.*encoder_block_05/Mlp_0/Dense_1/bias"):
        convert_params(missing, config, expected)
    wrong = dict(params, **{"encoder_norm/scale": np.zeros(10, np.float32)})
    with pytest.raises(ConversionError, match="shape mismatch for encoder_norm/scale"):
        convert_params(wrong, config, expected)


def test_reads_full_train_state_and_params_only(tmp_path, fixtures_dir):
    full = read_flax_params(fixtures_dir / "mwmae_micro" / "checkpoint_4321")
    only = write_flax_msgpack(tmp_path / "checkpoint_7", nest(full))  # params-only, no "params" key
    again = read_flax_params(only)
    assert set(again) == set(full)
    wrapped = write_flax_msgpack(tmp_path / "checkpoint_8", {"params": nest(full)})
    assert set(read_flax_params(wrapped)) == set(full)


def test_directory_takes_the_latest_checkpoint(tmp_path, fixtures_dir):
    src = fixtures_dir / "mwmae_micro"
    shutil.copy(src / "config.json", tmp_path / "config.json")
    shutil.copy(src / "checkpoint_4321", tmp_path / "checkpoint_900")
    params = read_flax_params(src / "checkpoint_4321")
    params["encoder_norm/bias"] = params["encoder_norm/bias"] + 1.0  # the newer step differs
    write_flax_msgpack(tmp_path / "checkpoint_10000", {"params": nest(params)})
    model = load_official(tmp_path)
    np.testing.assert_allclose(model.encoder.norm.bias.detach().numpy(), params["encoder_norm/bias"])


def test_truncated_official_checkpoint_is_a_clear_error(tmp_path, fixtures_dir):
    data = (fixtures_dir / "mwmae_micro" / "checkpoint_4321").read_bytes()
    (tmp_path / "checkpoint_1").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="not a readable Flax msgpack checkpoint.*complete"):
        load_checkpoint(str(tmp_path / "checkpoint_1"))


def test_cli_convert_then_load_model_gives_official_numbers(converted_dir, fixtures_dir):
    assert (converted_dir / "config.json").is_file() and (converted_dir / "model.safetensors").is_file()
    ref = np.load(fixtures_dir / "mwmae_micro" / "reference_outputs.npz")
    model = hear_mwmae.load_model(str(converted_dir), timestamp_mode="official")
    emb, ts = hear_mwmae.get_timestamp_embeddings(torch.from_numpy(ref["audio_3.3s"]), model)
    assert np.abs(emb.numpy() - ref["timestamp_embeddings_3.3s"]).max() <= 1e-4
    # the official file loads directly too, converted in memory
    direct = hear_mwmae.load_model(str(fixtures_dir / "mwmae_micro" / "checkpoint_4321"), timestamp_mode="official")
    torch.testing.assert_close(hear_mwmae.get_timestamp_embeddings(torch.from_numpy(ref["audio_3.3s"]), direct)[0], emb)


def test_cli_convert_encoder_only(tmp_path, fixtures_dir):
    out = tmp_path / "enc"
    assert main(["convert", str(fixtures_dir / "mae_micro"), str(out), "--encoder-only"]) == 0
    model = load_checkpoint(str(out))
    assert model.config.encoder_only and model.decoder is None
    assert not any(k.startswith("decoder") for k in model.state_dict())


def test_cli_convert_errors_exit_2(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_convert_with_wrong_config_is_reported(fixtures_dir, tmp_path):
    with pytest.raises(ConversionError):
        load_official(fixtures_dir / "mwmae_micro", config=get_config("mwmae_tiny"))
    with pytest.raises(CheckpointError):
        load_official(tmp_path)  # empty dir
