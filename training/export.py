"""Export a training checkpoint to the runtime format, with a model card; optionally push it.

    python -m training.export runs/tiny exported/tiny [--encoder-only] [--eval-table results.md]
                              [--push-to-hub owner/name]

``runs/tiny`` may be a run folder (its latest checkpoint is used) or one ``ckpt-<step>`` folder.
The output (config.json + model.safetensors + README.md) loads with
``hear_mwmae.load_model("exported/tiny")`` and, once pushed, ``load_model("hf://owner/name")``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from hear_mwmae import MaskedAutoencoder, ModelConfig
from hear_mwmae.atomic import atomic_write_bytes

from . import state


def _find(source: Path):
    if (source / "state.safetensors").is_file():
        return state.read(source)
    found = state.load_latest(source)
    if found is None:
        raise FileNotFoundError(f"{source} holds no training checkpoint (ckpt-<step>/ with state.safetensors)")
    return found


def check_license(license: str) -> str:
    """A Hub licence id (lowercase, as the Hub's ``license:`` field takes it: apache-2.0, cc-by-sa-4.0, ...)."""
    if not isinstance(license, str):
        raise TypeError(f"license must be a string such as 'cc-by-sa-4.0', got {type(license).__name__}")
    if license == "other":
        raise ValueError("--license other: leave --license out instead; the card then says 'license: other' and "
                         "points at the training data's licences")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", license):
        raise ValueError(f"--license {license!r} is not a Hub licence id: use its lowercase SPDX-style id, "
                         f"e.g. apache-2.0, cc-by-4.0, cc-by-sa-4.0, gpl-3.0, mit")
    return license


def _read_inputs(eval_table: str | None, corpus_report: str | None) -> tuple[str | None, dict | None]:
    """The card's extra inputs, checked before anything is written."""
    for name, value in (("--eval-table", eval_table), ("--corpus-report", corpus_report)):
        if value and not Path(value).is_file():
            raise ValueError(f"{name} {value}: no such file")
    table = Path(eval_table).read_text() if eval_table else None
    corpus = None
    if corpus_report:
        try:
            corpus = json.loads(Path(corpus_report).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"--corpus-report {corpus_report} is not JSON ({e})") from e
        if not isinstance(corpus, dict) or not isinstance(corpus.get("sources"), dict):
            raise ValueError(f"--corpus-report {corpus_report} has no 'sources' (package and licence per source): "
                             f"pass the corpus_report.json of `python -m training.debian_corpus --preset real65`")
    return table, corpus


def model_card(meta: dict, config: ModelConfig, data_report: dict | None, eval_table: str | None,
               encoder_only: bool, corpus_report: dict | None = None, license: str | None = None) -> str:
    """The Hub README. ``data_report`` is the shards' report.json (hours trained on, per source);
    ``corpus_report`` a corpus_report.json of ``training.debian_corpus`` (package and licence per source);
    ``license`` the weights' licence id, when whoever exports them knows it."""
    tc = meta.get("train_config", {})
    hours = data_report.get("hours_per_source", {}) if data_report else {}
    sources = (corpus_report or {}).get("sources", {})
    lines = [
        "---",
        "library_name: hear_mwmae",
        # Why not the code's Apache-2.0 by default: the weights come from audio under its own licences
        # (GPL, CC-BY-SA, ... for the Debian corpus), and an exporter should not claim more than it knows.
        *([f"license: {check_license(license)}"] if license else ["license: other", "license_name: training-data-licences"]),
        "tags: [audio, hear, mw-mae, self-supervised, masked-autoencoder]",
        "---",
        "",
        f"# {tc.get('model', config.variant)} ({'encoder only' if encoder_only else 'encoder + decoder'})",
        "",
        f"{'MW-MAE' if config.variant == 'mwmae' else 'MAE'} pretrained with `hear_mwmae`'s `training/` package. "
        "Load it for HEAR embeddings with `hear_mwmae.load_model(\"<this folder or hf://owner/name>\")`.",
        "",
        "## Model",
        "",
        f"- encoder: D={config.embed_dim}, depth {config.depth}, {config.num_heads} heads; patches "
        f"{config.patch_size[0]}×{config.patch_size[1]} on {config.img_size[0]}×{config.img_size[1]} log-mel",
        f"- decoder: D={config.decoder_embed_dim}, depth {config.decoder_depth}, {config.decoder_num_heads} heads, "
        f"windows {list(config.decoder_window_sizes) or 'all global'}" + (" (not included)" if encoder_only else ""),
        f"- embeddings: {config.frame_embedding_size}-d every {config.frame_ms:g} ms; scene = mean over frames",
        "",
        "## Training",
        "",
        f"- steps: {meta.get('step')}, samples seen: {meta.get('samples_seen')}, final loss: {meta.get('last_loss')}",
        f"- batch {tc.get('batch_size')} × accum {tc.get('accum_steps')} × {meta.get('world_size')} ranks; "
        f"base lr {tc.get('base_lr')}, warm-up {tc.get('warmup_steps')} steps, weight decay {tc.get('weight_decay')}, "
        f"precision {tc.get('precision')}",
        f"- compute: {meta.get('elapsed_s', 0) / 3600:.2f} h of training steps on `{meta.get('device')}`"
        + (f" ({meta['host']})" if meta.get("host") else ""),
    ]
    if tc.get("init_from"):
        lines.append(f"- started from the weights of `{tc['init_from']}` (`--init-from`); the steps, samples and "
                     f"compute above are this run's only")
    if tc.get("init_encoder_from"):
        lines.append(f"- started from the encoder of `{tc['init_encoder_from']}` (`--init-encoder-from`) "
                     f"with a freshly initialised decoder; the steps, samples and compute above are this run's only")
    if tc.get("freeze_encoder"):
        lines.append("- the encoder was held fixed for the whole run (`--freeze-encoder`): only the decoder trained, so "
                     "the encoder's weights are those it started from, unchanged")
    if hours and sources:
        lines += ["", "## Data", "", f"{sum(hours.values()):.2f} h in all.", "",
                  "| source | Debian package | licence | hours |", "|---|---|---|---|"]
        lines += [f"| {src} | {sources.get(src, {}).get('package', '—')} | {sources.get(src, {}).get('licence', '—')} "
                  f"| {h:.2f} |" for src, h in sorted(hours.items())]
    elif hours:
        lines += ["", "## Data", "", "| source | hours |", "|---|---|"]
        lines += [f"| {src} | {h:.2f} |" for src, h in sorted(hours.items())]
    if eval_table:
        lines += ["", "## Evaluation", "", eval_table.strip()]
    if not license:
        lines += ["", "## Licence", "",
                  "No licence was chosen for these weights when they were exported. They were trained on audio "
                  + ("listed in the data section above, " if hours else "") + "each source under its own licence"
                  + (" (the table's licence column)" if hours and sources else "") + "; whether trained weights carry their "
                  "training data's terms is unsettled, so check those terms for your use. The code that trained "
                  "them, `hear_mwmae`, is Apache-2.0. Whoever knows the weights' licence sets it with "
                  "`python -m training.export ... --license ID`."]
    return "\n".join(lines) + "\n"


def export(source: str | Path, out: str | Path, encoder_only: bool = False, eval_table: str | None = None,
           corpus_report: str | None = None, license: str | None = None) -> Path:
    """Write ``out`` (config.json, model.safetensors, README.md) from a run or checkpoint folder."""
    if license is not None:
        check_license(license)  # before any work
    table, corpus = _read_inputs(eval_table, corpus_report)
    tensors, meta, path = _find(Path(source))
    config = ModelConfig.from_dict(meta["model_config"])
    model = MaskedAutoencoder(config)
    model.load_state_dict(state.model_state(tensors), strict=True)
    if encoder_only:
        model = model.encoder_only_copy()
        config = model.config
    out = Path(out)
    model.save_pretrained(out)
    data_dir = Path(meta.get("train_config", {}).get("data", ""))
    report = json.loads((data_dir / "report.json").read_text()) if (data_dir / "report.json").is_file() else None
    if corpus and report is None:
        print(f"training.export: warning: the run's shards report {data_dir / 'report.json'} is gone (shards moved?), "
              f"so the card has no data table and --corpus-report is not used", file=sys.stderr)
    atomic_write_bytes(out / "README.md", model_card(meta, config, report, table, encoder_only, corpus, license).encode())
    return out


def push(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload an exported folder to the Hub (token from HF_TOKEN or the login cache)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not an export (config.json + model.safetensors); run the export first")
    api = HfApi()
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), allow_patterns=["*.json", "*.safetensors", "*.md"])
    except Exception as e:
        raise PushError(_push_failure(e, repo_id)) from e
    return getattr(info, "oid", str(info))


class PushError(RuntimeError):
    """An upload to the Hub failed; the message names the cause and the fix."""


def _push_failure(error: Exception, repo_id: str) -> str:
    """A one-paragraph reason for a failed upload (no traceback): refused token, unreachable Hub, …"""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    where = f"{constants.ENDPOINT} ({repo_id})"
    if isinstance(error, HFValidationError):
        return f"{repo_id!r} is not a valid Hub repo id (OWNER/NAME): {error}"
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        if status == 401:
            return (f"the Hub at {where} refused the token (401 Unauthorized): set HF_TOKEN to a token with write "
                    f"access, or run `hf auth login`")
        if status == 403:
            return f"the Hub at {where} forbids this upload (403): the token cannot write to {repo_id.split('/')[0]}"
        return f"the Hub at {where} answered {status}: {' '.join(str(error).split())[:300]}"
    if isinstance(error, (OSError, ConnectionError)) or "connect" in type(error).__name__.lower():
        return (f"cannot reach the Hub at {where}: {type(error).__name__}: {' '.join(str(error).split())[:300]} "
                f"(offline? HF_ENDPOINT set to the right server?)")
    return f"upload to {where} failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run folder or ckpt-<step> folder")
    p.add_argument("out", help="output folder")
    p.add_argument("--encoder-only", action="store_true")
    p.add_argument("--eval-table", help="Markdown file with evaluation results for the model card")
    p.add_argument("--corpus-report", help="corpus_report.json of training.debian_corpus: the card's data table "
                                           "then names each source's Debian package and licence")
    p.add_argument("--license", metavar="ID", help="the weights' licence as a Hub id (e.g. cc-by-sa-4.0), for the "
                                                   "card; without it the card says 'other' and points to the data's")
    p.add_argument("--push-to-hub", metavar="OWNER/NAME", help="upload the export to this Hub repo")
    a = p.parse_args(argv)
    try:
        out = export(a.source, a.out, a.encoder_only, a.eval_table, a.corpus_report, a.license)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    print(f"exported {a.source} -> {out}")
    if a.push_to_hub:
        try:
            print(f"pushed to {a.push_to_hub} (commit {push(out, a.push_to_hub)})")
        except (PushError, FileNotFoundError) as e:
            print(f"python -m training.export: error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
