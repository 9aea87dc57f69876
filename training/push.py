"""Upload an exported model folder to the Hugging Face Hub.

    python -m training.push exported/tiny owner/name [--private]

Token from ``HF_TOKEN`` (or ``hf auth login``). Then ``hear_mwmae.load_model("hf://owner/name")``.
"""

from __future__ import annotations

import argparse
import sys

from .export import PushError, push


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="exported model folder (config.json + model.safetensors [+ README.md])")
    p.add_argument("repo_id", help="Hub repo OWNER/NAME (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    a = p.parse_args(argv)
    try:
        commit = push(a.folder, a.repo_id, a.private)
    except (PushError, FileNotFoundError) as e:
        print(f"python -m training.push: error: {e}", file=sys.stderr)
        return 1
    print(f"pushed {a.folder} to {a.repo_id} (commit {commit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
