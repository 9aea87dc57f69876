"""The HEAR on-disk task format: TaskWriter output and check_task, on synthetic clips (no sources needed)."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from hear_mwmae_tools.evaluation.tasks.hearformat import TaskWriter, check_task, pcm16_wav_bytes, sorted_labels


def _meta(**kw):
    meta = {"task_name": "toy", "version": "v1", "mode": "full", "embedding_type": "scene",
            "prediction_type": "multiclass", "split_mode": "new_split_kfold", "sample_duration": 0.5,
            "evaluation": ["top1_acc"]}
    meta.update(kw)
    return meta


def _tone(seconds, freq=440.0):
    t = np.arange(round(seconds * 16000)) / 16000
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_scene_task_layout_exactly_as_hearpreprocess(tmp_path):
    w = TaskWriter(tmp_path, _meta(), ["fold00", "fold01"])
    w.add("fold00", "a.wav", _tone(0.3), [10])  # short: zero-padded
    w.add("fold00", "b.wav", _tone(0.9), [9])  # long: trimmed
    w.add("fold01", "c.wav", _tone(0.5), [10])
    folder = w.finish()
    assert folder == tmp_path / "toy-v1-full"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-v1-full"]  # no partial folder left
    meta = json.loads((folder / "task_metadata.json").read_text())
    assert meta["splits"] == ["fold00", "fold01"] and meta["nfolds"] == 2 and meta["task_name"] == "toy"
    assert json.loads((folder / "fold00.json").read_text()) == {"a.wav": [10], "b.wav": [9]}
    with open(folder / "labelvocabulary.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["idx", "label"], ["0", "9"], ["1", "10"]]  # numeric order, not "10" < "9"
    for name, split in (("a.wav", "fold00"), ("b.wav", "fold00"), ("c.wav", "fold01")):
        info = sf.info(str(folder / "16000" / split / name))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 8000)
    audio, _ = sf.read(str(folder / "16000" / "fold00" / "a.wav"), dtype="float32")
    assert np.abs(audio[4800:]).max() == 0 and np.abs(audio[:4800]).max() > 0.4  # padded at the end
    summary = check_task(folder)
    assert summary["counts"] == {"fold00": 2, "fold01": 1} and summary["labels"] == ["10", "9"]


def test_event_task_and_trainvaltest(tmp_path):
    meta = _meta(embedding_type="event", prediction_type="multilabel", split_mode="trainvaltest",
                 sample_duration=1.0, evaluation=["event_onset_200ms_fms", "segment_1s_er"])
    w = TaskWriter(tmp_path, meta, ["train", "valid", "test"])
    for split in ("train", "valid", "test"):
        w.add(split, f"{split}.wav", _tone(1.0), [{"label": "beep", "start": 100.0, "end": 400.0}])
    folder = w.finish()
    assert "nfolds" not in json.loads((folder / "task_metadata.json").read_text())
    assert check_task(folder)["labels"] == ["beep"]


def test_writer_rejects_mistakes(tmp_path):
    w = TaskWriter(tmp_path, _meta(), ["fold00", "fold01"])
    w.add("fold00", "a.wav", _tone(0.5), ["x"])
    with pytest.raises(ValueError, match="duplicate file name"):
        w.add("fold01", "a.wav", _tone(0.5), ["x"])
    with pytest.raises(ValueError, match="unknown split"):
        w.add("test", "b.wav", _tone(0.5), ["x"])
    with pytest.raises(ValueError, match="no clips"):
        w.finish()  # fold01 is empty
    with pytest.raises(ValueError, match="lacks 'evaluation'"):
        TaskWriter(tmp_path, {k: v for k, v in _meta().items() if k != "evaluation"}, ["fold00"])
    with pytest.raises(ValueError, match="not in the task's vocabulary"):
        v = TaskWriter(tmp_path, _meta(), ["fold00"], vocabulary=[1, 2])
        v.add("fold00", "a.wav", _tone(0.5), [3])
        v.finish()


def _good_task(tmp_path):
    w = TaskWriter(tmp_path, _meta(), ["fold00", "fold01"])
    w.add("fold00", "a.wav", _tone(0.5), ["x"])
    w.add("fold01", "b.wav", _tone(0.5), ["y"])
    return w.finish()


def test_check_task_finds_broken_folders(tmp_path):
    folder = _good_task(tmp_path)
    (folder / "fold01.json").write_text(json.dumps({"a.wav": ["y"]}))
    with pytest.raises(ValueError, match="in both fold00 and fold01"):
        check_task(folder)
    (folder / "fold01.json").write_text(json.dumps({"b.wav": ["z"]}))
    with pytest.raises(ValueError, match="not in labelvocabulary"):
        check_task(folder)
    (folder / "fold01.json").write_text(json.dumps({"b.wav": ["x", "y"]}))
    with pytest.raises(ValueError, match="exactly one label"):
        check_task(folder)
    (folder / "fold01.json").write_text(json.dumps({"b.wav": ["y"]}))
    (folder / "16000" / "fold01" / "b.wav").write_bytes(pcm16_wav_bytes(_tone(0.25)))
    with pytest.raises(ValueError, match="4000 samples, expected 8000"):
        check_task(folder)
    (folder / "16000" / "fold01" / "b.wav").unlink()
    with pytest.raises(ValueError, match="is missing"):
        check_task(folder)
    with pytest.raises(ValueError, match="not a HEAR task"):
        check_task(tmp_path)


def test_pcm16_and_label_order():
    data, rate = sf.read(__import__("io").BytesIO(pcm16_wav_bytes(np.array([0.0, 0.5, -1.0, 2.0]))), dtype="int16")
    assert rate == 16000 and data.tolist() == [0, 16384, -32768, 32767]  # clipped, not wrapped
    assert sorted_labels([10, 9, 100]) == [9, 10, 100]
    assert sorted_labels(["b", "a", "_x_"]) == ["_x_", "a", "b"]
    with pytest.raises(ValueError, match="1-D mono"):
        pcm16_wav_bytes(np.zeros((2, 10)))
