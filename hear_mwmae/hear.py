"""The HEAR runtime: 2 s chunking, micro-batched encoder calls, timestamps (docs/design.md §D11).

A clip of L samples gives T = 1 + L // 160 log-mel frames. The clip is reflect-padded
(NumPy semantics) to whole 200-frame units, every unit of every clip goes through the
encoder in micro-batches of at most ``chunk_batch_size`` units, and each unit yields 50
frame embeddings of 5·D ("b (t f) d -> b t (f d)"). The first ceil(T / 4) frames are kept,
exactly as the official runtime. Scene embedding = mean over those frames.

Timestamps (ms, float32): ``timestamp_mode="centered"`` (default) puts frame i at
(i + 0.5) · 40 ms and keeps only the frames whose centre lies within the clip (HEAR wants
centres, and the validator fails a last timestamp past the end: 4.0 s gives 101 frames,
whose 101st centre is 4020 ms). ``"official"`` reproduces the official frame starts
i · duration / n over all frames.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .config import ModelConfig
from .frontend import HOP_LENGTH, SAMPLE_RATE, LogMelFrontend, num_frames, reflect_index
from .devices import cpu_matmul_is_slow
from .model import Encoder

TIMESTAMP_MODES = ("centered", "official")
PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_audio(audio) -> torch.Tensor:
    """Validate a HEAR audio batch (n_sounds, n_samples) and return it as float32."""
    if not isinstance(audio, torch.Tensor):
        raise TypeError(f"audio must be a torch.Tensor of shape (n_sounds, n_samples), got {type(audio).__name__}; "
                        f"for a numpy array use torch.from_numpy(x)")
    if audio.ndim != 2:
        hint = {1: "add a batch dimension: audio[None]", 3: "mix the channels down to mono first"}.get(audio.ndim, "")
        raise ValueError(f"audio must be 2-D (n_sounds, n_samples) of 16 kHz mono, got shape {tuple(audio.shape)}"
                         + (f"; {hint}" if hint else ""))
    if not audio.is_floating_point():
        raise TypeError(f"audio must be floating point in [-1, 1], got {audio.dtype}; "
                        f"scale integer PCM first, e.g. x.float() / 32768 for int16")
    if audio.shape[1] == 0:
        raise ValueError("audio has zero-length clips (n_samples == 0); every clip needs at least one sample")
    audio = audio.float()
    if audio.numel() and not torch.isfinite(audio).all():
        raise ValueError("audio contains NaN or Inf values; clean or clip the input first")
    return audio


class HearModel(nn.Module):
    """The object ``load_model`` returns: frontend + encoder + HEAR attributes.

    Attributes: ``sample_rate`` (16000), ``scene_embedding_size`` and
    ``timestamp_embedding_size`` (5·D, e.g. 3840 for Base), all Python ints; ``embedding_layer``:
    the encoder blocks run before the final norm (``depth`` unless asked otherwise).
    """

    def __init__(self, encoder: Encoder, chunk_batch_size: int = 32, timestamp_mode: str = "centered",
                 precision: str = "fp32", compile: bool = False, embedding_layer: int | None = None) -> None:
        super().__init__()
        if isinstance(chunk_batch_size, bool) or not isinstance(chunk_batch_size, int) or chunk_batch_size < 1:
            raise ValueError(f"chunk_batch_size must be a positive int, got {chunk_batch_size!r}")
        if timestamp_mode not in TIMESTAMP_MODES:
            raise ValueError(f"timestamp_mode must be one of {TIMESTAMP_MODES}, got {timestamp_mode!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.config: ModelConfig = encoder.config
        self.embedding_layer = encoder.check_layer(embedding_layer)
        self.frontend = LogMelFrontend()
        self.encoder = encoder
        self.chunk_batch_size = chunk_batch_size
        self.timestamp_mode = timestamp_mode
        self.precision = precision
        self._warned_slow_cpu = False
        self.encoder.to(self.compute_dtype(next(encoder.parameters()).device))
        # Optional torch.compile of the encoder (off by default: it costs ~40 s of compilation
        # for Base on 2 CPU cores and gains ~10 %; the eager path is already fused where it counts).
        self._compiled = torch.compile(encoder.frame_embeddings) if compile else None
        self.scene_embedding_size = int(self.config.frame_embedding_size)
        self.timestamp_embedding_size = int(self.config.frame_embedding_size)
        self.eval()

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @sample_rate.setter
    def sample_rate(self, value) -> None:
        raise ValueError(f"MW-MAE works on {SAMPLE_RATE} Hz audio only (got a request for {value!r}); "
                         f"resample your audio to {SAMPLE_RATE} Hz instead (e.g. torchaudio.functional.resample)")

    # ---- geometry ------------------------------------------------------------------------
    @property
    def unit_frames(self) -> int:
        """Spectrogram frames per encoder call (200 = 2 s)."""
        return self.config.img_size[0]

    def num_embedding_frames(self, num_samples: int) -> int:
        """Frame embeddings the official runtime keeps: ceil(T / patch_t)."""
        return math.ceil(num_frames(num_samples) / self.config.patch_size[0])

    def num_timestamps(self, num_samples: int) -> int:
        """Frames returned by ``get_timestamp_embeddings`` for a clip of that many samples."""
        if self.timestamp_mode == "official":
            return self.num_embedding_frames(num_samples)
        frame_samples = self.config.patch_size[0] * HOP_LENGTH
        return max(1, (2 * num_samples + frame_samples) // (2 * frame_samples))  # centre <= clip end

    def timestamps(self, num_samples: int, n: int, device=None) -> torch.Tensor:
        """(n,) float32 timestamps in ms for a clip of ``num_samples`` samples."""
        duration_ms = 1000.0 * num_samples / SAMPLE_RATE
        i = torch.arange(n, dtype=torch.float64, device=device)
        if self.timestamp_mode == "official":
            ts = i * (duration_ms / n)  # frame starts stretched over the clip (official)
        elif n == 1 and self.config.frame_ms / 2 > duration_ms:
            ts = torch.full((1,), duration_ms / 2, dtype=torch.float64, device=device)  # clip shorter than half a frame
        else:
            ts = (i + 0.5) * self.config.frame_ms  # computed from the index, never accumulated
        return ts.float()

    # ---- encoder over 2 s units ----------------------------------------------------------
    def compute_dtype(self, device: torch.device) -> torch.dtype:
        """Encoder dtype on a device: bf16 falls back to fp16 on GPUs without bf16."""
        dtype = _DTYPES[self.precision]
        if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return dtype

    def _units(self, audio: torch.Tensor):
        """Yield (clip (m,), unit (m,), frame embeddings (m, T', E) float32) per micro-batch of m units.

        ``clip`` indexes the batch, ``unit`` the 2 s unit inside that clip. Only the un-normalised
        log-mel of the current clip group is held (T × 80 floats a clip, 1/48 of a Base output);
        each micro-batch gathers its units from it (reflect-padded tail included) and normalises them.
        """
        n_clips, n_samples = audio.shape
        t = num_frames(n_samples)
        u = math.ceil(t / self.unit_frames)
        frames = torch.from_numpy(reflect_index(t, u * self.unit_frames)).to(audio.device).view(u, self.unit_frames)
        clips_per_group = max(1, self.chunk_batch_size // u)
        dtype = next(self.encoder.parameters()).dtype
        encode = self._compiled or self.encoder.frame_embeddings
        for c0 in range(0, n_clips, clips_per_group):
            log_mel = self.frontend.log_mel(audio[c0 : c0 + clips_per_group])  # (g, T, F)
            mean, std = self.frontend.stats(log_mel)
            n_units = log_mel.shape[0] * u
            for k in range(0, n_units, self.chunk_batch_size):
                ks = torch.arange(k, min(k + self.chunk_batch_size, n_units), device=audio.device)
                clip, unit = ks // u, ks % u
                x = self.frontend.normalize(log_mel[clip[:, None], frames[unit]], mean[clip], std[clip])
                # Why a low-precision copy of the encoder rather than autocast: autocast re-casts
                # every weight on every call and keeps an fp32 residual stream (measured 1.3×
                # slower on CPU); the official bf16 HEAR path also computed activations in bf16.
                # The frontend always stays float32.
                emb = encode(x.to(dtype), self.embedding_layer)  # (m, T', E)
                yield c0 + clip, unit, emb.float()

    @property
    def device(self) -> torch.device:
        """Where the model is (``load_model(device=…)`` or ``.to(…)`` put it; it never moves by itself)."""
        return next(self.encoder.parameters()).device

    def _prepare(self, audio) -> torch.Tensor:
        """Check the audio and bring it to the model's device (the outputs go back to the audio's)."""
        audio = check_audio(audio).to(self.device)
        param = next(self.encoder.parameters())
        dtype = self.compute_dtype(param.device)  # e.g. bf16 -> fp16 after .to() onto a GPU without bf16
        if param.device.type == "cpu" and dtype != torch.float32 and not self._warned_slow_cpu:
            self._warned_slow_cpu = True
            # Measured (benchmarks/embed_throughput.py): fp16 matmuls on every CPU we ran are slower than
            # fp32, and bf16 ones too on CPUs without AVX-512/AMX bf16 kernels (~9x slower embeddings on an AVX2 EPYC).
            if dtype == torch.float16:
                warnings.warn("precision='fp16' on CPU is slower than fp32 (no fp16 matmul kernels); use 'fp32' "
                              "(or 'bf16' on CPUs with AMX / AVX-512-bf16); fp16 is for GPUs without bf16", stacklevel=5)
            elif cpu_matmul_is_slow(dtype):
                warnings.warn("precision='bf16' on this CPU is far slower than fp32: it has no bf16 matmul kernels "
                              "(no AMX / AVX-512); use precision='fp32' here", stacklevel=5)
        if param.dtype != dtype:
            self.encoder.to(dtype)
        return audio

    @torch.inference_mode()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) -> embeddings (B, n, E) float32 and timestamps (B, n) float32 ms, on audio's device."""
        _, emb, ts = self._embed(audio, scene=False, timestamps=True)
        return emb, ts

    @torch.inference_mode()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, E) float32: the mean of all official frame embeddings of each clip."""
        return self._embed(audio, scene=True, timestamps=False)[0]

    @torch.inference_mode()
    def embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both kinds from one encoder pass: (B, L) -> scene (B, E), timestamp embeddings (B, n, E),
        timestamps (B, n) ms; equal to :meth:`scene_embeddings` and :meth:`timestamp_embeddings`."""
        return self._embed(audio, scene=True, timestamps=True)

    def _embed(self, audio, scene: bool, timestamps: bool):
        home = audio.device if isinstance(audio, torch.Tensor) else None
        outputs = self._embed_here(self._prepare(audio), scene, timestamps)
        return tuple(o.to(home) if o is not None and home is not None else o for o in outputs)

    def _embed_here(self, audio, scene: bool, timestamps: bool):
        b, n_samples = audio.shape
        n_official, n_ts = self.num_embedding_frames(n_samples), self.num_timestamps(n_samples)
        total = torch.zeros(b, self.scene_embedding_size, device=audio.device, dtype=torch.float64) if scene else None
        out = torch.zeros(b, n_ts, self.timestamp_embedding_size, device=audio.device) if timestamps else None
        tpu = self.config.grid_size[0]  # frames per unit
        for clip, unit, emb in self._units(audio):
            if scene:  # sum of the unit's frames that lie inside the clip's official frames
                valid = (n_official - unit * tpu).clamp(0, tpu)
                keep = torch.arange(tpu, device=audio.device)[None, :] < valid[:, None]
                total.index_add_(0, clip, (emb * keep[..., None]).sum(dim=1, dtype=torch.float64))
            if timestamps:
                for c, start, e in zip(clip.tolist(), (unit * tpu).tolist(), emb):
                    if start < n_ts:  # the last unit may be all padding
                        stop = min(start + tpu, n_ts)
                        out[c, start:stop] = e[: stop - start]
        scene_emb = (total / n_official).float() if scene else None
        ts = self.timestamps(n_samples, n_ts, device=audio.device).expand(b, n_ts).contiguous() if timestamps else None
        return scene_emb, out, ts
