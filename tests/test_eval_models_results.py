"""hear-mwmae eval building blocks: --model specs, task selection, seed views, results table."""

import json

import pytest

from hear_mwmae.cli import main
from hear_mwmae_tools.evaluation.models import parse_model
from hear_mwmae_tools.evaluation.results import markdown, mean_ci95, read_scores, write_results
from hear_mwmae_tools.evaluation.runner import TaskRun, _claim_folder, _options_suffix, _seed_view, list_tasks


def test_model_specs(tmp_path):
    ckpt = tmp_path / "my_model"
    ckpt.mkdir()
    s = parse_model(str(ckpt))
    assert (s.module, s.weights, s.options) == ("hear_mwmae", str(ckpt.resolve()), {})
    assert s.heareval_args() == ["hear_mwmae", "--model", str(ckpt.resolve())]
    r = parse_model("random:mwmae_tiny?seed=3&precision=bf16")
    assert r.module == "hear_mwmae" and r.weights is None
    assert r.options == {"model_file_path": "random:mwmae_tiny", "seed": 3, "precision": "bf16"}
    assert json.loads(r.heareval_args()[2]) == r.options
    h = parse_model("hf://owner/name@v1")
    assert h.options == {"model_file_path": "hf://owner/name@v1"}
    b = parse_model("hear_mwmae_tools.baselines.random_mwmae?config=mwmae_tiny", {"precision": "fp32"})
    assert (b.module, b.options) == ("hear_mwmae_tools.baselines.random_mwmae", {"precision": "fp32", "config": "mwmae_tiny"})
    w = parse_model(f"hear_mwmae_tools.baselines.logmel:{ckpt}")
    assert (w.module, w.weights) == ("hear_mwmae_tools.baselines.logmel", str(ckpt.resolve()))
    slugs = {x.slug for x in (s, r, h, b, w, parse_model("random:mwmae_tiny"), parse_model("random:mwmae_base"))}
    assert len(slugs) == 7  # every model gets its own folder
    assert parse_model("random:mwmae_tiny").slug.startswith("random-mwmae_tiny-")


@pytest.mark.parametrize("spec, match", [
    ("no_such_module_xyz", "not importable"),
    ("./missing/ckpt", "neither an existing checkpoint path"),
    ("hear_mwmae_tools.baselines.logmel:/no/such/file", "does not exist"),
    ("random:mwmae_tiny?=x", "key=value"),
])
def test_bad_model_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_model(spec)


@pytest.mark.parametrize("spec", ["", "bundled", " bundled "])
def test_bundled_spelling_is_the_one_of_load_model(spec):
    """eval --model "" or bundled: heareval calls hear_mwmae.load_model() with no path, as the validator does."""
    model = parse_model(spec)
    assert (model.module, model.weights, model.options) == ("hear_mwmae", None, {})
    assert model.heareval_args() == ["hear_mwmae"]
    assert model.slug.startswith("bundled-")


def test_options_suffix_matches_heareval():
    slugify = pytest.importorskip("slugify").slugify
    options = {"model_file_path": "random:mwmae_tiny", "config": "x y"}
    # heareval: "-" + "-".join("%s=%s" % (slugify(k), slugify(str(v)))) over the JSON we pass (sorted keys)
    expected = "-" + "-".join(f"{slugify(k)}={slugify(str(v))}" for k, v in sorted(options.items()))
    assert _options_suffix(options) == expected == "-config=x-y-model-file-path=random-mwmae-tiny"
    assert _options_suffix({}) == ""


def _fake_task(root, folder, task_name, version=None):
    (root / folder).mkdir(parents=True)
    (root / folder / "task_metadata.json").write_text(json.dumps({"task_name": task_name, "version": version,
                                                                   "evaluation": ["top1_acc"]}))


def test_list_tasks(tmp_path, capsys):
    _fake_task(tmp_path, "drums-kits2-full", "drums", "kits2")
    _fake_task(tmp_path, "speech_commands-v0.0.2-5h", "speech_commands")  # an official HEAR task
    (tmp_path / "not_a_task").mkdir()
    assert [p.name for p in list_tasks(tmp_path)] == ["drums-kits2-full", "speech_commands-v0.0.2-5h"]
    assert [p.name for p in list_tasks(tmp_path, ["speech_commands"])] == ["speech_commands-v0.0.2-5h"]
    assert [p.name for p in list_tasks(tmp_path, ["drums-kits2-full"])] == ["drums-kits2-full"]
    with pytest.raises(ValueError, match="no task 'pitch'.*available: drums-kits2-full"):
        list_tasks(tmp_path, ["pitch"])
    # an older build of one of our tasks is left out (with the reason), unless named by its folder
    _fake_task(tmp_path, "drums-hydrogen2017-full", "drums", "hydrogen2017")
    capsys.readouterr()
    assert [p.name for p in list_tasks(tmp_path, ["drums"])] == ["drums-kits2-full"]
    assert "drums-hydrogen2017-full: built by version 'hydrogen2017'" in capsys.readouterr().err
    assert "drums-hydrogen2017-full" not in [p.name for p in list_tasks(tmp_path)]
    assert [p.name for p in list_tasks(tmp_path, ["drums-hydrogen2017-full"])] == ["drums-hydrogen2017-full"]
    with pytest.raises(FileNotFoundError, match="tasks build all"):
        list_tasks(tmp_path / "nope")


def test_seed_view_links_embeddings_not_predictions(tmp_path):
    emb = tmp_path / "emb"
    (emb / "fold00").mkdir(parents=True)
    for name in ("task_metadata.json", "fold00.embeddings.npy", "test.predicted-scores.json", "prediction-done.json",
                 "fold00.predictions.pkl", "prediction.log"):
        (emb / name).write_text(name)
    view = tmp_path / "seeds" / "seed1"
    _seed_view(emb, view)
    assert sorted(p.name for p in view.iterdir()) == ["fold00", "fold00.embeddings.npy", "task_metadata.json"]
    assert (view / "fold00.embeddings.npy").read_text() == "fold00.embeddings.npy"
    _seed_view(emb, view)  # idempotent


def test_model_folder_belongs_to_one_model(tmp_path):
    _claim_folder(tmp_path / "m", parse_model("random:mwmae_tiny"))
    _claim_folder(tmp_path / "m", parse_model("random:mwmae_tiny"))
    with pytest.raises(ValueError, match="another model"):
        _claim_folder(tmp_path / "m", parse_model("random:mwmae_base"))


def test_mean_ci95():
    mean, ci = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and ci == pytest.approx(4.303 / 3**0.5, rel=1e-4)  # t_{0.975,2} * sd / sqrt(n)
    assert mean_ci95([0.5]) == (0.5, None)
    assert mean_ci95([]) == (None, None)
    assert mean_ci95([1.0, float("nan"), 1.0]) == (1.0, 0.0)
    assert mean_ci95([1.0, float("inf")]) == (float("inf"), None)  # heareval's d_prime can be inf


def _scores_json(path, values, key="top1_acc"):
    data = {f"fold{i:02d}": {f"test_{key}": v, "test_loss": 0.1} for i, v in enumerate(values)}
    data.update({"aggregated_scores": {f"test_{key}_mean": 0.0}, "hparams": {}, "postprocessing": [],
                 "score_mode": "max", "embedding_path": "x"})
    path.mkdir(parents=True, exist_ok=True)
    (path / "test.predicted-scores.json").write_text(json.dumps(data))


def test_results_table(tmp_path):
    from hear_mwmae_tools.evaluation.results import collect

    _fake_task(tmp_path / "tasks", "drums-v-full", "drums")
    task = tmp_path / "tasks" / "drums-v-full"
    specs = [parse_model("random:mwmae_tiny"), parse_model("hear_mwmae_tools.baselines.logmel")]
    _scores_json(tmp_path / "a", [0.5, 0.7, 0.6])
    _scores_json(tmp_path / "b", [0.8])
    assert read_scores(tmp_path / "a", "top1_acc") == [0.5, 0.7, 0.6]
    runs = [TaskRun(specs[0].slug, task.name, task, prediction_dirs=[tmp_path / "a", tmp_path / "b"], embed_s=12.3,
                    predict_s=[40.0, 41.0]),
            TaskRun(specs[1].slug, task.name, task, error="embeddings failed (exit 1)")]
    table = collect(runs, specs)
    row = table["rows"][0]
    assert row["n"] == 4 and row["mean"] == pytest.approx(0.65) and row["predict_s"] == 81.0
    md = markdown(table, {"grid": "fast"})
    assert "| drums-v-full | top1_acc | 0.650 ± " in md and "(n=4)" in md and "failed" in md
    assert "| drums-v-full | 12 / 81 |" in md and "grid=fast" in md
    md_path, json_path = write_results(table, tmp_path / "out", {"grid": "fast"})
    assert md_path.read_text() == md
    assert json.loads(json_path.read_text())["rows"][0]["values"] == [0.5, 0.7, 0.6, 0.8]
    table["rows"][0]["values"][0] = float("inf")
    _, json_path = write_results(table, tmp_path / "out")
    json.loads(json_path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def test_results_of_earlier_runs_in_the_folder_are_kept(tmp_path):
    """A second `eval` into the same --out (another model, another task, other seeds) adds to the
    table; a (model, task) it redoes replaces the old rows; inf written as a string reads back."""
    from hear_mwmae_tools.evaluation.results import collect

    for folder, name in (("drums-v-full", "drums"), ("pitch-v-full", "pitch")):
        _fake_task(tmp_path / "tasks", folder, name)
    drums, pitch = tmp_path / "tasks" / "drums-v-full", tmp_path / "tasks" / "pitch-v-full"
    rand, logmel = parse_model("random:mwmae_tiny"), parse_model("hear_mwmae_tools.baselines.logmel")
    for d, values in (("a", [0.5, 0.7]), ("b", [0.9, 0.8]), ("c", [0.1, 0.2]), ("d", [0.3, 0.4])):
        _scores_json(tmp_path / d, values)
    out = tmp_path / "out"
    first = collect([TaskRun(rand.slug, drums.name, drums, prediction_dirs=[tmp_path / "a"]),
                     TaskRun(rand.slug, pitch.name, pitch, prediction_dirs=[tmp_path / "c"])], [rand])
    first["rows"][0]["mean"] = float("inf")
    write_results(first, out, {"seeds": 3})
    second = collect([TaskRun(logmel.slug, drums.name, drums, prediction_dirs=[tmp_path / "b"]),
                      TaskRun(rand.slug, pitch.name, pitch, prediction_dirs=[tmp_path / "d"])], [logmel, rand])
    md_path, json_path = write_results(second, out, {"seeds": 1})
    data = json.loads(json_path.read_text())
    got = {(r["model"], r["task"]): r for r in data["rows"] if r["primary"]}
    assert set(got) == {(rand.slug, drums.name), (logmel.slug, drums.name), (rand.slug, pitch.name)}
    assert got[(rand.slug, drums.name)]["settings"] == {"seeds": 3}  # kept, with its own settings
    assert got[(rand.slug, pitch.name)]["values"] == [0.3, 0.4]  # redone: replaced
    assert got[(logmel.slug, drums.name)]["settings"] == {"seeds": 1}
    assert [m["slug"] for m in data["models"]] == [logmel.slug, rand.slug]
    md = md_path.read_text()
    assert "| drums-v-full | top1_acc | 0.850 ± " in md and "| inf ± " in md and "own settings" in md
    (out / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a results table"):
        write_results(second, out, {"seeds": 1})


def test_eval_cli_reports_bad_input(tmp_path, capsys):
    assert main(["eval", "--model", "no_such_module_xyz", "--tasks-dir", str(tmp_path)]) == 2
    assert "not importable" in capsys.readouterr().err
    assert main(["eval", "--model", "random:mwmae_tiny", "--tasks-dir", str(tmp_path / "none")]) == 2
    assert "tasks build all" in capsys.readouterr().err
    assert main(["eval", "--model", "random:mwmae_tiny", "--tasks-dir", str(tmp_path), "--model-options", "[1]"]) == 2
    assert "JSON dict" in capsys.readouterr().err


def test_rebuilt_task_invalidates_cached_embeddings(tmp_path):
    from hear_mwmae_tools.evaluation.runner import TASK_MARKER, _drop_if_stale, task_fingerprint

    _fake_task(tmp_path / "tasks", "t-v-full", "t")
    task = tmp_path / "tasks" / "t-v-full"
    emb = tmp_path / "model" / "embeddings" / "m" / task.name
    emb.mkdir(parents=True)
    (emb / ".done.embeddings").write_text("")
    (emb / TASK_MARKER).write_text(task_fingerprint(task))
    run = TaskRun("m", task.name, task, emb)
    _drop_if_stale(run, tmp_path / "model", task_fingerprint(task))
    assert emb.is_dir()  # same task: kept
    (task / "train.json").write_text("{}")  # the task was rebuilt with other clips
    _drop_if_stale(run, tmp_path / "model", task_fingerprint(task))
    assert not emb.exists()
