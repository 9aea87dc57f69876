import dataclasses

import pytest

from hear_mwmae import MaskedAutoencoder, ModelConfig, get_config, list_configs
from hear_mwmae.config import DECODER_DEPTHS, ENCODER_SIZES, PATCH_SIZES, window_sizes_for


@pytest.mark.parametrize(
    "num_patches, expected",
    [
        (250, (2, 5, 10, 25, 50, 125, 0, 0)),
        (125, (5, 25, 0, 0)),
        (500, (2, 4, 5, 10, 20, 25, 50, 100, 125, 250, 0, 0)),
        (640, (2, 4, 5, 8, 10, 16, 20, 32, 40, 64, 80, 128, 160, 320, 0, 0)),
    ],
)
def test_window_rule_matches_spec_table(num_patches, expected):
    assert window_sizes_for(num_patches) == expected


@pytest.mark.parametrize("patch, heads", [((8, 16), 4), ((4, 16), 8), ((8, 8), 8), ((4, 8), 12), ((5, 5), 16)])
def test_paper_decoder_head_counts(patch, heads):
    cfg = get_config(f"mwmae_base_{patch[0]}x{patch[1]}_384d-{heads}h-4l")
    assert cfg.decoder_num_heads == heads == len(cfg.decoder_window_sizes)
    mae = get_config(f"mae_base_{patch[0]}x{patch[1]}_384d-{heads}h-4l")
    assert mae.use_cls_token and mae.decoder_window_sizes == () and mae.decoder_num_heads == heads


def test_every_size_patch_and_depth_is_named():
    names = set(list_configs())
    per_family = len(ENCODER_SIZES) * (len(PATCH_SIZES) * len(DECODER_DEPTHS) + 1)  # every geometry + a short alias
    plain = {n for n in names if not n.endswith("deform") and not n.startswith("datar_")}
    assert len(plain) == 2 * per_family
    assert len([n for n in names if n.endswith("deform")]) == per_family  # MW-MAE with a deformable decoder head
    assert {n for n in names if n.startswith("datar_")} == {"datar_tiny", "datar_small"}
    for size, (dim, depth, heads) in ENCODER_SIZES.items():
        cfg = get_config(f"mwmae_{size}")
        assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (dim, depth, heads)
        assert cfg.patch_size == (4, 16) and cfg.decoder_depth == 4 and not cfg.use_cls_token


@pytest.mark.parametrize(
    "name, total, encoder",
    [("mwmae_base", 92_814_576, 85_297_920), ("mae_base", 92_814_784, None), ("mwmae_tiny", 12_694_704, 5_399_232),
     ("mwmae_small", 28_784_496, 21_415_296), ("mwmae_medium", 45_409_264, 37_990_912)],
)
def test_parameter_counts_match_spec(name, total, encoder):
    model = MaskedAutoencoder(get_config(name))
    assert model.num_params() == total
    if encoder is not None:
        assert model.num_params(encoder_only=True) == encoder


def test_frame_embedding_sizes():
    sizes = {"tiny": 960, "small": 1920, "medium": 2560, "base": 3840, "large": 5120, "huge": 6400}
    for size, width in sizes.items():
        assert get_config(f"mwmae_{size}").frame_embedding_size == width


def test_configs_are_frozen_and_round_trip():
    cfg = get_config("mwmae_base")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.embed_dim = 3
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg and isinstance(again.decoder_window_sizes, tuple)


def test_unknown_config_name_suggests():
    with pytest.raises(ValueError, match="unknown config name 'mwmae_bsae'.*mwmae_base"):
        get_config("mwmae_bsae")
    with pytest.raises(TypeError):
        get_config(3)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"variant": "vit"}, "variant"),
        ({"decoder_window_sizes": (2, 5, 0)}, "one entry per head"),
        ({"use_cls_token": True}, "cls"),
        ({"patch_size": (7, 16)}, "divide"),
        ({"embed_dim": 100}, "divisible"),
        ({"mask_ratio": 1.5}, "mask_ratio"),
        ({"depth": 0}, "positive"),
    ],
)
def test_bad_config_values(changes, match):
    with pytest.raises(ValueError, match=match):
        get_config("mwmae_tiny", **changes)


def test_from_dict_rejects_unknown_keys():
    data = get_config("mwmae_tiny").to_dict() | {"heads": 3}
    with pytest.raises(ValueError, match="unknown model config keys \\['heads'\\]"):
        ModelConfig.from_dict(data)


def test_windows_need_not_divide_and_shifting_is_a_bool():
    cfg = get_config("mwmae_tiny", decoder_window_sizes=(3, 5, 10, 25, 50, 125, 0, 0), shifting_windows=True)
    assert cfg.decoder_window_sizes[0] == 3 and cfg.shifting_windows
    assert get_config("mwmae_tiny").shifting_windows is False  # the official configs leave it off
    with pytest.raises(TypeError, match="shifting_windows"):
        get_config("mwmae_tiny", shifting_windows="yes")
