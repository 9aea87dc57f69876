"""``hear-mwmae analyze …`` end to end on the official micro models (CPU, a few clips)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hear_mwmae.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path):
    assert path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 2000, path
    return path


@pytest.fixture(scope="module")
def attention_runs(fixtures_dir, tmp_path_factory):
    """`analyze attention` on both micro models (MW-MAE: decoder too); returns the output folder."""
    out = tmp_path_factory.mktemp("analysis")
    for name in ("mwmae_micro", "mae_micro"):
        args = ["analyze", "attention", "--model", str(fixtures_dir / name), "--n-clips", "3", "--batch-size", "2",
                "--out", str(out / name), "--quiet"]
        assert main(args) == 0
    assert main(["analyze", "attention", "--model", str(fixtures_dir / "mwmae_micro"), "--part", "decoder",
                 "--query-set", "masked", "--n-clips", "2", "--out", str(out / "mw_dec"), "--quiet", "--no-plots"]) == 0
    return out


def test_attention_writes_arrays_metadata_and_figures(attention_runs):
    out = attention_runs / "mae_micro"
    data = np.load(out / "attention_encoder.npz")
    assert data["entropy"].shape == (2, 2) and data["clips_dist_time"].shape == (3, 2, 2)
    assert set(data["categories"].ravel()) <= {"global", "vertical", "diagonal"}
    assert np.all(data["cls_mass"] > 0)  # the MAE baseline has a CLS token
    meta = json.loads((out / "attention_encoder.json").read_text())
    assert meta["condition"]["mask_ratio"] == 0.0 and meta["condition"]["part"] == "encoder"
    assert meta["cls_policy"] == "renormalize" and meta["clips"]["n_clips"] == 3 and meta["clips"]["seed"] == 0
    assert "euclid_patch" in meta["distance_variants"] and meta["grid"]["grid"] == [50, 5]
    for stat in ("dist_time", "dist_freq", "entropy", "dist_vs_entropy"):
        _png(out / f"attention_encoder_{stat}.png")
    dec = np.load(attention_runs / "mw_dec" / "attention_decoder.npz")
    assert dec["window_sizes"].tolist() == [2, 5, 10, 25, 50, 125, 0, 0]
    assert np.all(dec["dist_time_patch"][:, 1] == 0)  # w = 5 heads never look across time steps
    meta = json.loads((attention_runs / "mw_dec" / "attention_decoder.json").read_text())
    assert meta["condition"]["mask_ratio"] == 0.8 and meta["condition"]["query_set"] == "masked"
    assert not list((attention_runs / "mw_dec").glob("*.png"))


def test_compare_two_attention_results(attention_runs, tmp_path, capsys):
    a = attention_runs / "mwmae_micro" / "attention_encoder.npz"
    b = attention_runs / "mae_micro" / "attention_encoder.npz"
    assert main(["analyze", "compare", str(a), str(b), "--out", str(tmp_path)]) == 0
    for stat in ("dist_time", "dist_freq", "entropy", "dist_vs_entropy"):
        _png(tmp_path / f"compare_{stat}.png")
    assert json.loads((tmp_path / "compare.json").read_text())["labels"][0].startswith("MW-MAE")
    c = attention_runs / "mw_dec" / "attention_decoder.npz"
    assert main(["analyze", "compare", str(a), str(c), "--out", str(tmp_path / "mixed")]) == 0
    assert "different conditions" in capsys.readouterr().out


def test_similarity_between_two_models(fixtures_dir, tmp_path):
    args = ["analyze", "similarity", "--model", str(fixtures_dir / "mwmae_micro"), "--other",
            str(fixtures_dir / "mae_micro"), "--n-clips", "4", "--tokens-per-clip", "200", "--null", "2",
            "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    data = np.load(tmp_path / "similarity_encoder_head_pwcca.npz")
    assert data["matrix"].shape == (4, 4) and np.all((data["matrix"] > 0) & (data["matrix"] <= 1))
    assert data["null"].shape == (2,) and data["row_labels"].tolist() == ["B1H0", "B1H1", "B2H0", "B2H1"]
    meta = json.loads((tmp_path / "similarity_encoder_head_pwcca.json").read_text())
    assert meta["datapoints"] == 800 and meta["other"].endswith("mae_micro")
    _png(tmp_path / "similarity_encoder_head_pwcca.png")
    assert main(["analyze", "similarity", "--model", str(fixtures_dir / "mwmae_micro"), "--part", "decoder",
                 "--metric", "cka", "--n-clips", "2", "--null", "0", "--out", str(tmp_path), "--quiet"]) == 0
    dec = np.load(tmp_path / "similarity_decoder_head_cka.npz")
    assert dec["matrix"].shape == (16, 16) and dec["row_labels"][1] == "B1 w=5"
    np.testing.assert_allclose(np.diag(dec["matrix"]), 1.0, atol=1e-9)


def test_prune_and_span(fixtures_dir, tmp_path):
    args = ["analyze", "prune", "--model", str(fixtures_dir / "mwmae_micro"), "--part", "decoder", "--rank-by",
            "globalness,window", "--steps", "0,4,16", "--random-seeds", "2", "--span", "0,all", "--n-clips", "2",
            "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    data = np.load(tmp_path / "prune_decoder.npz")
    assert data["steps"].tolist() == [0, 4, 16] and data["random"].shape == (2, 3)
    assert data["curve_window"][0] == pytest.approx(data["curve_globalness"][0])
    assert data["curve_window"][2] == pytest.approx(data["random"][0, 2])  # everything pruned
    assert data["order_window"][0].tolist() == [0, 0]  # the w = 2 head of block 0 goes first
    assert data["span_radii"].tolist() == [0, 49] and data["span_scores"][1] == pytest.approx(data["curve_window"][0], rel=1e-5)
    meta = json.loads((tmp_path / "prune_decoder.json").read_text())
    assert meta["scorer"] == "masked reconstruction MSE" and meta["heldout_clips"]["seed"] == 1
    _png(tmp_path / "prune_decoder.png")
    _png(tmp_path / "span_decoder.png")


def test_viz_one_clip(fixtures_dir, tmp_path):
    args = ["analyze", "viz", "--model", str(fixtures_dir / "mae_micro"), "--block", "2", "--head", "1",
            "--query", "10,2", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    maps = np.load(tmp_path / "viz_encoder_B2_H1.npz")["maps"]
    assert maps.shape == (2, 250, 250)
    np.testing.assert_allclose(maps.sum(-1), 1.0, rtol=1e-9)  # CLS dropped, rows renormalised
    _png(tmp_path / "viz_encoder_B2_H1.png")
    assert json.loads((tmp_path / "viz_encoder_B2_H1.json").read_text())["block"] == 2


def test_cli_errors_are_reported(fixtures_dir, tmp_path, capsys):
    model = str(fixtures_dir / "mwmae_micro")
    assert main(["analyze", "prune", "--model", model, "--scorer", "mse", "--n-clips", "1", "--out", str(tmp_path),
                 "--quiet"]) == 2
    assert "--scorer" in capsys.readouterr().err
    for block in ("0", "3"):  # micro has blocks 1 and 2
        assert main(["analyze", "viz", "--model", model, "--block", block, "--out", str(tmp_path), "--quiet"]) == 2
        assert "blocks 1..2" in capsys.readouterr().err
    assert main(["analyze", "attention", "--model", model, "--distance", "cosine", "--out", str(tmp_path)]) == 2


def test_registering_the_command_imports_nothing_heavy():
    code = ("import sys, hear_mwmae.cli as c; c.build_parser().parse_args(['analyze', 'viz', '--model', 'x']); "
            "print(sorted(m for m in ('matplotlib', 'hear_mwmae_tools.analysis.commands', 'hear_mwmae_tools.analysis.stats') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_viewer_draws_time_step_boundaries_every_five_steps(fixtures_dir):
    """The map's lines sit between time steps 5k-1 and 5k (token t·F_p + f), not one band off."""
    from hear_mwmae.checkpoint import load_checkpoint
    from hear_mwmae_tools.analysis.grid import TokenGrid
    from hear_mwmae_tools.analysis.viewer import attention_view

    grid = TokenGrid.from_config(load_checkpoint(fixtures_dir / "mwmae_micro").config)
    n, fp = grid.num_patches, grid.grid[1]
    fig = attention_view(np.zeros((200, 80)), np.full((n, n), 1.0 / n), grid, (10, 2))
    rows = sorted({line.get_ydata()[0] for line in fig.axes[0].lines if line.get_ydata()[0] == line.get_ydata()[1]})
    assert rows == [k - 0.5 for k in range(5 * fp, n, 5 * fp)]
