"""One tiny end-to-end HEAR evaluation through `hear-mwmae eval`: the real heareval, both stages.

Two models (log-mel baseline, random-weight MW-MAE-Tiny) on two tiny tasks (the real
spoken_digit task, 4 clips a fold, and 2 event scenes a fold), fast grid, one grid point.
Marked slow: CI runs it, `-m "not slow"` skips it. Needs the eval install (DEVELOPERS.md).
"""

import json
import os

import pytest

from hear_mwmae.cli import main
from hear_mwmae_tools.evaluation.heareval_driver import INSTALL_HINT, missing_requirements
from hear_mwmae_tools.evaluation.tasks import build_task
from hear_mwmae_tools.evaluation.tasks.audio import SourceMissingError


@pytest.fixture(scope="module")
def heareval_ready():
    missing = missing_requirements()
    if missing:
        message = f"heareval stack missing {missing}: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.slow
def test_eval_two_models_two_tasks_then_resume(heareval_ready, tmp_path, capsys):
    tasks = tmp_path / "tasks"
    try:
        digit = build_task("spoken_digit", tasks, limit=4)
        events = build_task("events", tasks, limit=2)
    except SourceMissingError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
    out = tmp_path / "eval"
    args = ["eval", "--model", "hear_mwmae_tools.baselines.logmel", "--model", "random:mwmae_tiny", "--tasks-dir",
            str(tasks), "--grid", "fast", "--grid-points", "1", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr()
    table = json.loads((out / "results.json").read_text())
    rows = {(r["model"].split("-")[0], r["task"], r["score"]): r for r in table["rows"]}
    assert len(table["models"]) == 2 and len(rows) == 2 * (1 + 2)
    for model in ("logmel", "random"):
        digit_row = rows[(model, digit.name, "top1_acc")]
        assert digit_row["error"] is None and digit_row["n"] == 5  # one test score per fold
        assert all(0.0 <= v <= 1.0 for v in digit_row["values"]) and digit_row["ci95"] is not None
        onset = rows[(model, events.name, "event_onset_200ms_fms")]
        assert onset["error"] is None and onset["n"] == 5 and 0.0 <= onset["mean"] <= 1.0
        assert rows[(model, events.name, "segment_1s_er")]["n"] == 5
        # one linearised value per test scene (eventscores), checked against heareval's fold scores on read
        assert onset["n_clips"] == 10 and onset["clip_ci95"] is not None
        assert rows[(model, events.name, "segment_1s_er")]["clip_values"] is None
        assert digit_row["embed_s"] > 0 and digit_row["predict_s"] > 0
        # one value per test clip, read back from heareval's own prediction files: the pooled mean over
        # the 5 equal folds is heareval's fold mean (a wrong clip order raises instead)
        assert digit_row["n_clips"] == 20 and len(digit_row["clip_values"]) == 20
        assert digit_row["clip_mean"] == pytest.approx(sum(digit_row["values"]) / 5, abs=1e-9)
    md = (out / "results.md").read_text()
    assert "| spoken_digit-1.0.9-small | top1_acc |" in md and "(n=5)" in md and "(n=20)" in md
    assert "## Paired differences" in md and len(table["paired"]) == 1
    assert not list(out.glob("*/logs"))  # Lightning logs and checkpoints cleaned up

    done = sorted(out.glob("*/embeddings/*/*/prediction-done.json"))
    assert len(done) == 4
    stamps = [p.stat().st_mtime_ns for p in done]
    capsys.readouterr()
    # Re-run with a second seed on one model and task: finished work is skipped, only seed 1 runs.
    assert main(args[:3] + args[5:] + ["--tasks", "spoken_digit", "--seeds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "embeddings for" not in printed and "(seed 0" not in printed and "(seed 1" in printed
    assert [p.stat().st_mtime_ns for p in done] == stamps
    rows = {(r["model"].split("-")[0], r["task"], r["score"]): r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert rows[("logmel", digit.name, "top1_acc")]["n"] == 10  # 5 folds x 2 seeds
    assert len(rows) == 2 * (1 + 2)  # the rows this re-run did not redo are kept in the table
