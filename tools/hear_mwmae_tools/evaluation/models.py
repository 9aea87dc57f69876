"""What ``hear-mwmae eval --model SPEC`` means: a HEAR module, optional weights, load_model options.

SPEC forms (an optional ``?key=value&key=value`` suffix adds ``load_model`` options; values are
read as JSON when they parse, else as strings):

- ``bundled`` (or ``""``): the weights bundled in the package, as ``load_model()`` loads them;
- ``path/to/checkpoint`` (an existing file or folder): our checkpoints or official Flax ones,
  loaded by the ``hear_mwmae`` module (heareval calls ``hear_mwmae.load_model(path)``);
- ``hf://owner/name[@rev]`` or ``random:<config>``: ``hear_mwmae`` with
  ``model_file_path`` passed as an option (heareval's ``--model`` only takes existing paths);
- ``module.name``: any importable HEAR module, e.g. ``hear_mwmae_tools.baselines.logmel``;
- ``module.name:path/to/weights``: a HEAR module with a weights file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

_OLD_BASELINES = "hear_mwmae.baselines."
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: heareval's MODULE, ``--model`` weights and ``--model-options``."""

    spec: str
    module: str
    weights: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """A folder name for this model's outputs: readable, unique per (module, weights, options)."""
        if self.module == "hear_mwmae":
            base = Path(self.weights).name if self.weights else str(self.options.get("model_file_path", "bundled"))
        else:
            base = self.module.rsplit(".", 1)[-1] + (f"-{Path(self.weights).name}" if self.weights else "")
        extra = {k: v for k, v in self.options.items() if k != "model_file_path"}
        if extra:
            base += "-" + "-".join(f"{k}={v}" for k, v in sorted(extra.items()))
        base = re.sub(r"[^A-Za-z0-9._=-]+", "-", base).strip("-.") or "model"
        digest = hashlib.sha1(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]
        return f"{base[:80]}-{digest}"

    def identity(self) -> dict:
        """What identifies the model (used to refuse reusing another model's cached outputs)."""
        return {"module": self.module, "weights": self.weights, "options": self.options}

    def heareval_args(self) -> list[str]:
        """Arguments for heareval's embeddings runner: MODULE [--model W] [--model-options J]."""
        args = [self.module]
        if self.weights:
            args += ["--model", self.weights]
        if self.options:
            args += ["--model-options", json.dumps(self.options, sort_keys=True)]
        return args


def _parse_options(query: str) -> dict:
    options = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=True):
        if not key:
            raise ValueError(f"empty option name in {query!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def parse_model(spec: str, options: dict | None = None) -> ModelSpec:
    """Turn ``--model SPEC`` (see the module docstring) into a :class:`ModelSpec`."""
    if not isinstance(spec, str):
        raise TypeError(f"--model must be a string, got {type(spec).__name__}")
    base, _, query = spec.strip().partition("?")
    opts = dict(options or {})
    if query:
        try:
            opts.update(_parse_options(query))
        except ValueError as e:
            raise ValueError(f"--model {spec!r}: options after '?' must look like key=value&key=value ({e})") from None
    if base in ("", "bundled"):  # the bundled weights: heareval calls hear_mwmae.load_model() with no path
        return ModelSpec(spec or "bundled", "hear_mwmae", None, opts)
    if base.startswith(("hf://", "random:")):
        return ModelSpec(spec, "hear_mwmae", None, {"model_file_path": base, **opts})
    if Path(base).expanduser().exists():
        return ModelSpec(spec, "hear_mwmae", str(Path(base).expanduser().resolve()), opts)
    module, sep, weights = base.partition(":")
    if module.startswith(_OLD_BASELINES):  # the baselines' names before they moved to the tools package
        module = "hear_mwmae_tools.baselines." + module[len(_OLD_BASELINES):]
    if _MODULE_RE.match(module):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            raise ValueError(f"--model {spec!r}: module {module!r} is not importable here; install it, or give an "
                             f"existing checkpoint path, hf://owner/name or random:<config>")
        if sep:
            if not Path(weights).expanduser().exists():
                raise ValueError(f"--model {spec!r}: weights file {weights!r} does not exist")
            return ModelSpec(spec, module, str(Path(weights).expanduser().resolve()), opts)
        return ModelSpec(spec, module, None, opts)
    raise ValueError(f"--model {spec!r} is neither an existing checkpoint path, hf://owner/name, random:<config>, "
                     f"nor an importable HEAR module name (e.g. hear_mwmae_tools.baselines.logmel)")
