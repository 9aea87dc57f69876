"""SAT scores, head categories, rankings, pruning / span curves and the scorers."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from hear_mwmae_tools.analysis.conditions import mask_noise
from hear_mwmae_tools.analysis.grid import TokenGrid
from hear_mwmae_tools.analysis.hooks import AttentionHooks
from hear_mwmae_tools.analysis.metrics import clip_head_stats
from hear_mwmae_tools.analysis.pruning import default_steps, pruning_curve, random_band, span_curve
from hear_mwmae_tools.analysis.sat import classify_heads, rank_heads, rank_positions, sat_scores
from hear_mwmae_tools.analysis.scorers import LinearProbeScorer, ReconstructionScorer, ridge_fit_predict
from hear_mwmae_tools.evaluation.tasks.hearformat import read_hear_task
from hear_mwmae_tools.analysis.stats import collect_attention_stats
from hear_mwmae.hear import HearModel

from conftest import tone_task

GRID = TokenGrid((50, 5))
N = 250


@pytest.fixture(scope="module")
def clips():
    return torch.randn(4, 200, 80, generator=torch.Generator().manual_seed(1))


def _prototype_heads() -> torch.Tensor:
    """(1, 3, N, N): a global head (uniform), a vertical head (all attend to 3 keys), a diagonal head."""
    uniform = torch.full((N, N), 1.0 / N)
    vertical = torch.zeros(N, N)
    vertical[:, [0, 100, 200]] = 1.0 / 3
    t = torch.arange(N) // 5
    diagonal = ((t[:, None] - t[None, :]).abs() <= 0).float()
    diagonal = diagonal / diagonal.sum(-1, keepdim=True)
    return torch.stack([uniform, vertical, diagonal])[None]


def test_sat_scores_and_classification_of_prototype_heads():
    stats = {k: v.numpy()[0][None] for k, v in clip_head_stats(_prototype_heads(), GRID).items()}  # (1, 3)
    scores = sat_scores(stats, num_time_steps=50)
    assert scores["globalness"][0, 0] == pytest.approx(np.log(N))
    assert scores["verticality"][0, 1] == pytest.approx(-np.log(3))
    assert scores["diagonality"][0, 2] == 0.0 and scores["diagonality"][0, 0] < -0.3
    cats = classify_heads(scores["globalness"], scores["verticality"], scores["diagonality"])
    assert cats.tolist() == [["global", "vertical", "diagonal"]]
    with pytest.raises(ValueError, match="time_patch"):
        sat_scores({"entropy": stats["entropy"], "verticality": stats["verticality"]}, 50)


def test_rank_positions_and_rankings():
    assert rank_positions(np.array([[0.1, 0.9], [0.5, 0.9]])).tolist() == [[3, 0], [2, 1]]
    stats = {"entropy": np.array([[1.0, 3.0], [2.0, 0.5]]), "max_weight": np.zeros((2, 2)),
             "window_sizes": np.array([0, 5]), "dist_time_patch": np.array([[1.0, 0.0], [4.0, 2.0]]),
             "verticality": np.array([[-1.0, -2.0], [-3.0, -0.5]])}
    assert rank_heads(stats, "globalness", num_time_steps=50) == [(0, 1), (1, 0), (0, 0), (1, 1)]
    assert rank_heads(stats, "diagonality", num_time_steps=50)[0] == (0, 1)  # smallest distance first
    assert rank_heads(stats, "window", num_time_steps=50) == [(0, 1), (1, 1), (0, 0), (1, 0)]  # global heads last
    r1, r2 = (rank_heads(stats, "random", num_time_steps=50, seed=s) for s in (0, 0))
    assert r1 == r2 and sorted(r1) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    with pytest.raises(ValueError, match="rank by"):
        rank_heads(stats, "loudness", num_time_steps=50)
    with pytest.raises(ValueError, match="window"):
        rank_heads({**stats, "window_sizes": np.zeros(2)}, "window", num_time_steps=50)


def test_pruning_curve_with_the_reconstruction_scorer(mw, clips):
    scorer = ReconstructionScorer(clips, seed=0, batch_size=2)
    with torch.no_grad():
        loss, _, _ = mw(clips, noise=mask_noise(range(4), 250, 0))
    stats = collect_attention_stats(mw, clips, "decoder", mask_ratio=0.8, variants=("time_patch",))
    order = rank_heads(stats, "window", num_time_steps=50)
    curve = pruning_curve(mw, "decoder", order, scorer, [0, 8, 16])
    assert curve[0] == pytest.approx(float(loss), rel=1e-5)
    assert len(set(np.round(curve, 6))) == 3  # pruning changes the loss
    assert np.array_equal(curve, pruning_curve(mw, "decoder", order, scorer, [0, 8, 16]))  # deterministic
    band = random_band(mw, "decoder", scorer, [0, 16], seeds=(0, 1))
    assert band.shape == (2, 2) and band[0, 1] == pytest.approx(band[1, 1])  # all heads pruned: order irrelevant
    assert band[0, 0] == pytest.approx(curve[0])
    with pytest.raises(ValueError, match="steps"):
        pruning_curve(mw, "decoder", order, scorer, [17])
    assert default_steps(16, 5) == [0, 4, 8, 12, 16]


def test_span_curve_on_encoder_and_decoder(mw, clips):
    scorer = ReconstructionScorer(clips[:2], seed=0)
    base = scorer(mw)
    enc = span_curve(mw, "encoder", [None, 49, 0], scorer)
    assert enc[0] == pytest.approx(base) and enc[1] == pytest.approx(base, rel=1e-5) and enc[2] != pytest.approx(base)
    dec = span_curve(mw, "decoder", [0], scorer, mode="zero")
    assert dec[0] != pytest.approx(base)


def test_linear_probe_scorer_on_a_tiny_task(mw, tmp_path):
    task = tone_task(tmp_path)
    scorer = LinearProbeScorer(task)
    assert len(scorer.clips["train"]) == 16 and len(scorer.clips["test"]) == 4
    assert scorer(mw) == 1.0  # low vs high tones are separable even with random-weight features
    hear = HearModel(mw.encoder)
    plain, labels = scorer._embed(hear, scorer.clips["test"])
    with AttentionHooks(mw, "encoder", head_mask=torch.zeros(2, 2)):  # the head mask reaches the HEAR path
        pruned, _ = scorer._embed(hear, scorer.clips["test"])
    assert labels.tolist() == [0, 1, 0, 1] and not np.allclose(plain, pruned, atol=1e-4)


def test_hear_task_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="task_metadata"):
        read_hear_task(tmp_path)
    task = tone_task(tmp_path)
    meta = json.loads((task / "task_metadata.json").read_text())
    (task / "task_metadata.json").write_text(json.dumps({**meta, "prediction_type": "multilabel"}))
    with pytest.raises(ValueError, match="multiclass"):
        read_hear_task(task)


def test_ridge_probe_separates_separable_data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.standard_normal((60, 5)) * 0.1 + np.eye(3, 5)[y] * 3
    assert np.array_equal(ridge_fit_predict(x, y, x, 3), y)
