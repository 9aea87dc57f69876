"""Attention metrics on the patch grid: analytic fixtures of docs/design.md §D17."""

import math

import numpy as np
import pytest
import torch

from hear_mwmae_tools.analysis.grid import TokenGrid, distance_label
from hear_mwmae_tools.analysis.metrics import clip_head_stats, uniform_attention, uniform_baseline, window_mask
from hear_mwmae_tools.analysis.stats import AttentionStats
from hear_mwmae.attention import MultiWindowAttention

GRID = TokenGrid((50, 5))
N = GRID.num_patches


def _stats(attn, grid=GRID, **kw):
    return {k: v.numpy() for k, v in clip_head_stats(attn, grid, **kw).items()}


def test_grid_coordinates_and_distances():
    c = GRID.coords()
    assert c.shape == (250, 2) and tuple(c[7]) == (1, 2)  # n = t·5 + f
    i, j = 0, 6  # (0, 0) -> (1, 1)
    assert GRID.distance_matrix("euclid_patch")[i, j] == pytest.approx(math.sqrt(2))
    assert GRID.distance_matrix("time")[i, j] == pytest.approx(40.0)
    assert GRID.distance_matrix("freq")[i, j] == pytest.approx(16.0)
    assert GRID.distance_matrix("euclid_bins")[i, j] == pytest.approx(math.hypot(4, 16))
    assert distance_label("time") == "mean attention distance, time (ms)"
    with pytest.raises(ValueError, match="unknown distance variant"):
        GRID.distance_matrix("manhattan")


# Reference values of uniform attention (docs/design.md §D17), E|Δt| and E|Δf| in patches, euclid, entropy.
SPEC_TABLE = {2: (0.10, 0.80, 0.81, 0.69), 5: (0.00, 1.60, 1.60, 1.61), 10: (0.50, 1.60, 1.81, 2.30),
              25: (1.60, 1.60, 2.55, 3.22), 50: (3.30, 1.60, 3.98, 3.91), 125: (8.32, 1.60, 8.72, 4.83),
              0: (16.66, 1.60, 16.91, 5.52)}


def test_uniform_baselines_match_the_spec_table():
    windows = tuple(SPEC_TABLE)
    base = {k: v[0] for k, v in uniform_baseline(GRID, windows).items()}
    for h, w in enumerate(windows):
        dt, df, eu, ent = SPEC_TABLE[w]
        got = (base["dist_time_patch"][h], base["dist_freq_patch"][h], base["dist_euclid_patch"][h], base["entropy"][h])
        np.testing.assert_allclose(got, (dt, df, eu, ent), atol=0.006, err_msg=f"window {w}")
    assert base["dist_euclid_bins"][-1] == pytest.approx(76.2, abs=0.05)
    assert base["dist_time"][-1] == pytest.approx(16.66 * 40, abs=0.3)  # ≈ 666 ms


def test_uniform_identity_and_one_hot_attention():
    uniform = torch.full((1, 1, N, N), 1.0 / N)
    identity = torch.eye(N)[None, None]
    k_star = 37
    one_hot = torch.zeros(1, 1, N, N)
    one_hot[..., k_star] = 1.0
    s = _stats(torch.cat([uniform, identity, one_hot], dim=1))
    np.testing.assert_allclose(s["entropy"][0], [math.log(N), 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s["entropy_norm"][0], [1.0, 0.0, 0.0], atol=1e-12)
    coords = GRID.coords()
    expect = np.mean([math.dist(coords[i], coords[k_star]) for i in range(N)])  # brute force δ(i, k*)
    assert s["dist_euclid_patch"][0, 1] == 0.0 and s["dist_time"][0, 1] == 0.0
    assert s["dist_euclid_patch"][0, 2] == pytest.approx(expect, rel=1e-12)
    assert s["dist_euclid_patch"][0, 0] == pytest.approx(16.91, abs=0.01)
    # Verticality: one key for everyone = maximal concentration (0); uniform/identity marginals = −ln N.
    np.testing.assert_allclose(s["verticality"][0], [-math.log(N), -math.log(N), 0.0], atol=1e-12)
    assert s["key_marginal"][0, 2, k_star] == pytest.approx(1.0)
    np.testing.assert_allclose(s["max_weight"][0], [1.0 / N, 1.0, 1.0])


def _random_rows(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def test_cls_drop_and_renormalise_equals_no_cls():
    attn = _random_rows((2, 3, N, N))
    cls_mass = torch.rand(2, 3, N, 1, dtype=torch.float64) * 0.5
    with_cls = torch.zeros(2, 3, N + 1, N + 1, dtype=torch.float64)
    with_cls[:, :, 1:, 1:] = attn * (1 - cls_mass)
    with_cls[:, :, 1:, :1] = cls_mass
    with_cls[:, :, 0] = _random_rows((2, 3, N + 1), seed=1)  # the CLS query row is dropped whatever it is
    plain = _stats(attn)
    renorm = _stats(with_cls, TokenGrid((50, 5), num_prefix=1))
    for key in ("entropy", "dist_euclid_patch", "dist_freq", "verticality", "max_weight"):
        np.testing.assert_allclose(renorm[key], plain[key], rtol=1e-10, err_msg=key)
    np.testing.assert_allclose(renorm["cls_mass"], cls_mass[..., 0].mean(-1).numpy(), rtol=1e-12)
    assert np.all(plain["cls_mass"] == 0)
    raw = _stats(with_cls, TokenGrid((50, 5), num_prefix=1), cls_policy="raw")
    assert np.all(raw["dist_time"] < renorm["dist_time"])  # raw weights on patch keys sum to 1 − CLS mass


def test_window_heads_measured_on_the_real_module():
    torch.manual_seed(0)
    module = MultiWindowAttention(16, 2, (5, 0)).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    _, attn = module(torch.randn(2, N, 16, dtype=torch.float64), return_attention=True)
    s = _stats(attn, window_sizes=(5, 0))
    assert np.all(s["dist_time"][:, 0] == 0.0)  # w = 5: one time step × all bands
    assert np.all(s["dist_time"][:, 1] > 0.0)
    assert np.all(s["entropy"][:, 0] <= math.log(5) + 1e-9)
    assert np.all((s["entropy_norm"] > 0) & (s["entropy_norm"] <= 1 + 1e-9))


def test_window_mask_and_uniform_attention():
    m = window_mask((2, 0), 6)
    assert m[0].sum() == 12 and m[1].all()
    assert torch.equal(m[0, :2, :2], torch.ones(2, 2, dtype=torch.bool)) and not m[0, 1, 2]
    module = MultiWindowAttention(12, 3, (3, 0, 2))  # the keys the model itself lets through
    assert torch.equal(window_mask((3, 0, 2), 6), module.attention_mask(6).isfinite())
    a = uniform_attention((2, 0), 6, num_prefix=1)
    assert a.shape == (2, 7, 7) and torch.allclose(a[:, 1:].sum(-1), torch.ones(2, 6, dtype=torch.float64))
    assert torch.all(a[:, :, 0] == 0)  # no weight on the CLS key
    short = window_mask((4,), 6)[0]  # 4 does not divide 6: windows [0, 4) and a shorter [4, 6)
    assert short[:4, :4].all() and short[4:, 4:].all() and not short[:4, 4:].any()


def test_visible_subset_uses_true_grid_positions():
    positions = torch.tensor([[0, 3, 12, 49, 120, 249]])  # scattered visible tokens (masked encoder)
    k = positions.shape[1]
    uniform = torch.full((1, 1, k, k), 1.0 / k)
    s = _stats(uniform, positions=positions)
    d = GRID.distance_matrix("time")[positions[0][:, None], positions[0][None, :]]
    assert s["dist_time"][0, 0] == pytest.approx(d.mean())
    assert s["entropy"][0, 0] == pytest.approx(math.log(k))
    assert s["key_marginal"][0, 0, positions[0]].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pass positions"):
        clip_head_stats(uniform, GRID)


def test_query_mask_selects_queries():
    attn = torch.eye(N)[None, None].repeat(1, 1, 1, 1)
    attn[0, 0, :5] = 1.0 / N  # first time step: uniform rows
    qm = torch.zeros(1, N, dtype=torch.bool)
    qm[0, 5:] = True
    assert _stats(attn, query_mask=qm)["entropy"][0, 0] == 0.0
    assert _stats(attn)["entropy"][0, 0] > 0.0
    with pytest.raises(ValueError, match="selects no query"):
        clip_head_stats(attn, GRID, query_mask=torch.zeros(1, N, dtype=torch.bool))


def test_streaming_accumulator_equals_direct_computation():
    grid = TokenGrid((10, 4))
    attn = _random_rows((5, 3, 40, 40), seed=3)
    acc = AttentionStats(grid, num_layers=2, num_heads=3)
    for layer in (0, 1):
        for sl in (slice(0, 2), slice(2, 5)):  # two batches
            acc.update(layer, attn[sl] if layer == 0 else attn[sl].flip(-1))
    res = acc.result()
    direct = clip_head_stats(attn, grid)["entropy"].numpy()  # (5, 3)
    np.testing.assert_allclose(res["entropy"][0], direct.mean(0), rtol=1e-12)
    np.testing.assert_allclose(res["entropy_std"][0], direct.std(0, ddof=1), rtol=1e-10)
    assert res["clips_entropy"].shape == (5, 2, 3) and res["key_marginal"].shape == (2, 3, 40)
    np.testing.assert_allclose(res["uniform_entropy"], math.log(40))
    assert not np.allclose(res["dist_time"][0], res["dist_time"][1])
    acc.update(0, attn[:1])  # layer 0 now has one clip more than layer 1
    with pytest.raises(ValueError, match="different numbers of clips"):
        acc.result()


def test_bad_inputs_are_rejected():
    with pytest.raises(TypeError):
        clip_head_stats(np.ones((1, 1, N, N)), GRID)
    with pytest.raises(ValueError, match=r"\(B, H, n, n\)"):
        clip_head_stats(torch.ones(1, N, N), GRID)
    with pytest.raises(ValueError, match="cls_policy"):
        clip_head_stats(torch.ones(1, 1, N, N) / N, GRID, cls_policy="keep")
    with pytest.raises(ValueError, match="grid"):
        TokenGrid((50,))
