"""Cold ``load_model`` time for tiny and base (config.json + model.safetensors).

    python benchmarks/load_time.py [--sizes tiny,base]

Each load runs in a fresh process (the file is in the OS page cache, as after a first use).
Reported: ``import hear_mwmae`` with its API (torch included: the package itself imports lazily),
``load_model(dir)``, and for comparison building the same
model with random initialisation (``random:`` weights), which loading avoids entirely.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, write_json  # noqa: E402

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import hear_mwmae
import hear_mwmae.api  # the package itself loads lazily: this is where torch comes in
t1 = time.perf_counter()
model = hear_mwmae.load_model(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
"""


def _run(source: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, source], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    info = machine_info()
    print_machine(info)
    from hear_mwmae import MaskedAutoencoder, get_config

    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            path = Path(tmp) / size
            MaskedAutoencoder(get_config(f"mwmae_{size}")).save_pretrained(path)
            mb = (path / "model.safetensors").stat().st_size / 2**20
            _run(str(path))  # warm the page cache
            loads = [_run(str(path)) for _ in range(args.repeats)]
            scratch = [_run(f"random:mwmae_{size}") for _ in range(args.repeats)]
            best = min(loads, key=lambda r: r["load_s"])
            init = min(r["load_s"] for r in scratch)
            records.append({"size": size, "file_mb": mb, "import_s": best["import_s"], "load_s": best["load_s"],
                            "random_init_s": init})
            rows.append([size, mb, best["import_s"], best["load_s"], init])
    print_table("cold load_model (fresh process, file in page cache)",
                ["size", "file MB", "import s", "load_model s", "random init s (for comparison)"], rows)
    write_json("load_time", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
