"""Read official Flax checkpoints (legacy msgpack) and map them onto our model.

Needs only ``msgpack`` + ``numpy``: Flax stores arrays as msgpack ext records (code 1:
[shape, dtype name, raw bytes]; code 3: numpy scalar) and lists/tuples as dicts with
"0", "1", … keys. Big arrays may be split into ``__msgpack_chunked_array__`` records.
The name mapping follows docs/design.md §D12.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgpack
import numpy as np

from .config import ENCODER_SIZES, ModelConfig, window_sizes_for

_EXT_NDARRAY, _EXT_COMPLEX, _EXT_SCALAR = 1, 2, 3
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


class ConversionError(ValueError):
    """An official checkpoint could not be mapped onto our model."""


def _ext_hook(code: int, data: bytes):
    if code == _EXT_NDARRAY:
        shape, dtype, buf = msgpack.unpackb(data, raw=False)
        return np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
    if code == _EXT_SCALAR:
        shape, dtype, buf = msgpack.unpackb(data, raw=False)
        return np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)[()]
    if code == _EXT_COMPLEX:
        re_, im = msgpack.unpackb(data, raw=False)
        return complex(re_, im)
    return msgpack.ExtType(code, data)


def _unchunk(tree):
    if isinstance(tree, dict):
        if "__msgpack_chunked_array__" in tree:
            chunks = tree["chunks"]
            parts = [chunks[k] for k in sorted(chunks, key=int)] if isinstance(chunks, dict) else list(chunks)
            return np.concatenate([p.reshape(-1) for p in parts]).reshape(tree["shape"])
        return {k: _unchunk(v) for k, v in tree.items()}
    return tree


def is_flax_checkpoint_file(path: Path) -> bool:
    """True if the file starts like a msgpack map with a Flax train-state / params key."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    if not head or not (0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return False
    if _CHECKPOINT_RE.match(Path(path).name):
        return True
    keys = (b"params", b"aux_rng_keys", b"buffers", b"patch_embed", b"pos_embed", b"step", b"encoder_block", b"opt_state")
    return any(k in head for k in keys)


def latest_checkpoint(directory: Path) -> Path | None:
    """The ``checkpoint_<step>`` file with the highest step in a directory (official layout)."""
    found = [(int(m.group(1)), p) for p in Path(directory).iterdir() if (m := _CHECKPOINT_RE.match(p.name)) and p.is_file()]
    return max(found)[1] if found else None


def read_flax_params(path: str | Path) -> dict[str, np.ndarray]:
    """Flat {"a/b/c": array} of the ``params`` of a checkpoint (full train state or params only)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        tree = msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several types for corrupt/truncated data
        raise ConversionError(f"{path} is not a readable Flax msgpack checkpoint ({type(e).__name__}: {e}); "
                              f"is the file complete?") from e
    if not isinstance(tree, dict):
        raise ConversionError(f"{path}: expected a msgpack map at the top level, got {type(tree).__name__}")
    tree = _unchunk(tree)
    params = tree.get("params", tree)
    if isinstance(params, dict) and "params" in params and "patch_embed" not in params:
        params = params["params"]  # {"params": {"params": …}} from some save helpers
    if not isinstance(params, dict) or "patch_embed" not in params:
        raise ConversionError(f"{path}: no MW-MAE parameters found (top-level keys: {sorted(tree)[:10]})")
    flat: dict[str, np.ndarray] = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            elif isinstance(v, np.ndarray):
                flat[key] = v
            else:
                raise ConversionError(f"{path}: parameter {key} is not an array ({type(v).__name__})")

    walk(params, "")
    return flat


# ---- config inference -------------------------------------------------------------------
# Head counts of the named encoder sizes by width (not visible in global attention's shapes).
_ENCODER_HEADS = {dim: heads for dim, _, heads in ENCODER_SIZES.values()}
_DEFAULTS = ModelConfig()  # the official input geometry and decoder width


def _official_config_json(path: Path) -> dict | None:
    """The model arguments stored beside a checkpoint (``config.json``, official key names)."""
    candidate = (path if path.is_dir() else path.parent) / "config.json"
    if not candidate.is_file():
        return None
    data = json.loads(candidate.read_text())
    return data if isinstance(data, dict) and "encoder" in data else None


def _window_tables(params: dict, prefix: str) -> dict[int, int]:
    """{head index: window} of the windowed heads found under a block prefix."""
    found = {}
    for key, arr in params.items():
        m = re.match(rf"^{prefix}/wmha_block/attn_heads_(\d+)/relative_position_bias_table$", key)
        if m:
            found[int(m.group(1))] = (arr.shape[0] + 1) // 2
    return found


def infer_config(params: dict[str, np.ndarray], official: dict | None = None) -> ModelConfig:
    """Build our ``ModelConfig`` from parameter shapes (+ the official config.json when present).

    Head counts of global attention are not visible in shapes; they come from ``official``
    or the paper's values (encoder: the named sizes; decoder: the docs/design.md §D7 window rule).
    """
    kernel = params["patch_embed/proj/kernel"]  # (pt, pf, 1, D)
    patch = (int(kernel.shape[0]), int(kernel.shape[1]))
    dim = int(kernel.shape[3])
    depth = len({k.split("/")[0] for k in params if k.startswith("encoder_block_")})
    dec_depth = len({k.split("/")[0] for k in params if k.startswith("decoder_block_")})
    use_cls = "cls_token" in params
    n_tokens = params["pos_embed"].shape[1] - int(use_cls)
    img = _DEFAULTS.img_size  # official checkpoints are all trained on 2 s crops of 80 mels
    grid = (img[0] // patch[0]) * (img[1] // patch[1])
    if n_tokens != grid:
        raise ConversionError(f"pos_embed has {n_tokens} patch rows; a {img[0]}×{img[1]} input with {patch} patches "
                              f"has {grid}")
    fc1 = params["encoder_block_00/Mlp_0/Dense_0/kernel"]
    dec_dim = int(params["decoder_embed/kernel"].shape[1]) if "decoder_embed/kernel" in params \
        else _DEFAULTS.decoder_embed_dim
    official = official or {}
    enc = official.get("encoder", {})
    heads = int(enc.get("num_heads", _ENCODER_HEADS.get(dim, max(1, dim // 64))))
    rule = window_sizes_for(grid)
    dec_heads = int(official.get("decoder_num_heads", len(rule)))

    def windows(prefix: str, n_heads: int, official_value) -> tuple[int, ...]:
        tables = _window_tables(params, prefix)
        if isinstance(official_value, list):
            ws = tuple(int(w) for w in official_value)
        elif isinstance(official_value, int) and official_value > 0:
            ws = (official_value,) * n_heads
        elif not tables:
            return ()
        else:
            ws = tuple(tables.get(h, 0) for h in range(n_heads))
        if {h: w for h, w in enumerate(ws) if w > 0} != tables:
            raise ConversionError(f"{prefix}: window sizes {ws} do not match the bias tables found {tables}")
        return ws

    enc_windows = windows("encoder_block_00", heads, official.get("window_sizes"))
    dec_windows = windows("decoder_block_00", dec_heads, official.get("decoder_window_sizes")) if dec_depth else ()
    return ModelConfig(
        variant="mae" if use_cls else "mwmae",
        img_size=img,
        patch_size=patch,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        mlp_ratio=fc1.shape[1] / dim,
        encoder_window_sizes=enc_windows,
        decoder_embed_dim=dec_dim,
        decoder_depth=max(dec_depth, 1),
        decoder_num_heads=dec_heads,
        decoder_window_sizes=dec_windows,
        use_cls_token=use_cls,
        mask_ratio=float(official.get("mask_ratio", 0.8)),
        encoder_only=dec_depth == 0,
    )


# ---- parameter mapping ------------------------------------------------------------------
def _block_map(flax_prefix: str, ours: str, heads: int) -> dict[str, tuple[str, str]]:
    """{our name: (flax name, transform)} for one transformer block."""
    m = {}
    for ln, our_ln in (("LayerNorm_0", "norm1"), ("LayerNorm_1", "norm2")):
        m[f"{ours}.{our_ln}.weight"] = (f"{flax_prefix}/{ln}/scale", "copy")
        m[f"{ours}.{our_ln}.bias"] = (f"{flax_prefix}/{ln}/bias", "copy")
    for dense, our in (("Mlp_0/Dense_0", "mlp.fc1"), ("Mlp_0/Dense_1", "mlp.fc2")):
        m[f"{ours}.{our}.weight"] = (f"{flax_prefix}/{dense}/kernel", "dense")
        m[f"{ours}.{our}.bias"] = (f"{flax_prefix}/{dense}/bias", "copy")
    return m


def _attention_map(params: dict, flax_prefix: str, ours: str, window_sizes: tuple[int, ...]) -> dict:
    m = {}
    if any(window_sizes) or f"{flax_prefix}/wmha_block/qkv/kernel" in params:
        names = (("wmha_block/qkv", "qkv"), ("wmha_block/proj", "proj"))
    else:
        names = (("Attention_0/Dense_0", "qkv"), ("Attention_0/Dense_1", "proj"))
    for flax_name, our in names:
        m[f"{ours}.attn.{our}.weight"] = (f"{flax_prefix}/{flax_name}/kernel", "dense")
        m[f"{ours}.attn.{our}.bias"] = (f"{flax_prefix}/{flax_name}/bias", "copy")
    for h, w in enumerate(window_sizes):
        if w > 0:
            m[f"{ours}.attn.relative_position_bias.head{h}"] = (
                f"{flax_prefix}/wmha_block/attn_heads_{h}/relative_position_bias_table", "squeeze")
    return m


def parameter_map(params: dict, config: ModelConfig) -> dict[str, tuple[str, str]]:
    """{our state-dict key: (official param path, transform)} for a config."""
    m = {
        "encoder.patch_embed.proj.weight": ("patch_embed/proj/kernel", "conv"),
        "encoder.patch_embed.proj.bias": ("patch_embed/proj/bias", "copy"),
        "encoder.pos_embed": ("pos_embed", "copy"),
        "encoder.norm.weight": ("encoder_norm/scale", "copy"),
        "encoder.norm.bias": ("encoder_norm/bias", "copy"),
    }
    if config.use_cls_token:
        m["encoder.cls_token"] = ("cls_token", "copy")
    for i in range(config.depth):
        fp, ours = f"encoder_block_{i:02d}", f"encoder.blocks.{i}"
        m.update(_block_map(fp, ours, config.num_heads))
        m.update(_attention_map(params, fp, ours, config.encoder_window_sizes))
    if not config.encoder_only:
        m.update({
            "decoder.embed.weight": ("decoder_embed/kernel", "dense"),
            "decoder.embed.bias": ("decoder_embed/bias", "copy"),
            "decoder.mask_token": ("mask_token", "copy"),
            "decoder.pos_embed": ("decoder_pos_embed", "copy"),
            "decoder.norm.weight": ("decoder_norm/scale", "copy"),
            "decoder.norm.bias": ("decoder_norm/bias", "copy"),
            "decoder.pred.weight": ("decoder_pred/kernel", "dense"),
            "decoder.pred.bias": ("decoder_pred/bias", "copy"),
        })
        for i in range(config.decoder_depth):
            fp, ours = f"decoder_block_{i:02d}", f"decoder.blocks.{i}"
            m.update(_block_map(fp, ours, config.decoder_num_heads))
            m.update(_attention_map(params, fp, ours, config.decoder_window_sizes))
    return m


_TRANSFORMS = {
    "copy": lambda a: a,
    "dense": lambda a: a.T,  # Flax Dense kernel (in, out) -> torch Linear weight (out, in)
    "conv": lambda a: a.transpose(3, 2, 0, 1),  # (pt, pf, 1, D) -> (D, 1, pt, pf)
    "squeeze": lambda a: a.reshape(-1),  # (2w - 1, 1) bias table -> (2w - 1,)
}


def convert_params(params: dict[str, np.ndarray], config: ModelConfig, expected_shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Map official params to our state dict; every official param must be consumed, every one of ours filled.

    ``expected_shapes`` are the shapes of our model's state dict (the source of truth).
    An encoder-only ``config`` drops the decoder params on purpose.
    """
    mapping = parameter_map(params, config)
    missing_ours = sorted(set(expected_shapes) - set(mapping))
    extra_ours = sorted(set(mapping) - set(expected_shapes))
    if missing_ours or extra_ours:
        raise ConversionError(f"internal mapping mismatch: unmapped {missing_ours[:5]}, unknown {extra_ours[:5]}")
    used = {src for src, _ in mapping.values()}
    absent = sorted(src for src in used if src not in params)
    if absent:
        raise ConversionError(f"the checkpoint lacks {len(absent)} parameters the config needs, e.g. {absent[:5]}")
    dropped_decoder = config.encoder_only
    unused = sorted(k for k in params if k not in used and not (dropped_decoder and k.startswith(("decoder", "mask_token"))))
    if unused:
        raise ConversionError(f"{len(unused)} official parameters were not consumed, e.g. {unused[:5]}; "
                              f"the config does not describe this checkpoint")
    out = {}
    for ours, (src, how) in mapping.items():
        arr = np.array(_TRANSFORMS[how](params[src]), dtype=np.float32, order="C")  # a writable copy
        if tuple(arr.shape) != tuple(expected_shapes[ours]):
            raise ConversionError(f"shape mismatch for {src} -> {ours}: {arr.shape} vs expected {tuple(expected_shapes[ours])}")
        out[ours] = arr
    return out
