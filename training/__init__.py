"""MW-MAE / MAE pretraining (used from a checkout: ``pip install -e ".[train]"``, then
``python -m training.train`` from the repository root). Imports ``hear_mwmae``; never the reverse.

Modules: corpus (audio files and manifests), shards (precomputed log-mel shards), data (crops,
sampler, loader), optim (AdamW groups and the LR schedule), state (checkpoints and resume),
dist (torchrun/DDP helpers), viz (reconstruction PNGs), train (the loop), export (runtime
format, model card, Hub upload).
"""
