"""Baseline HEAR modules for comparison (each importable as a HEAR module by heareval):

- ``hear_mwmae_tools.baselines.logmel``: log-mel statistics, no learned weights;
- ``hear_mwmae_tools.baselines.random_mwmae``: MW-MAE with random weights (option ``config``).
"""
