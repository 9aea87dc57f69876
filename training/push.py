"""Upload an exported model folder to the Hugging Face Hub.

    python -m training.push exported/tiny owner/name [--private]

Token from ``HF_TOKEN`` (or ``hf auth login``). Then ``hear_mwmae.load_model("hf://owner/name")``.
"""

from __future__ import annotations

import argparse

from .export import push


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder")
    p.add_argument("repo_id")
    p.add_argument("--private", action="store_true")
    a = p.parse_args(argv)
    print(f"pushed {a.folder} to {a.repo_id} (commit {push(a.folder, a.repo_id, a.private)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
