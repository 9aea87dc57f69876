"""Tools beside the ``hear_mwmae`` runtime, installed separately (``pip install -e tools/``).

- ``hear_mwmae_tools.evaluation``: ``hear-mwmae eval`` / ``hear-mwmae tasks`` (heareval runs, task builders);
- ``hear_mwmae_tools.baselines``: HEAR modules to compare against (log-mel, random-weight MW-MAE);
- ``hear_mwmae_tools.analysis``: ``hear-mwmae analyze`` (attention distance/entropy, PWCCA, SAT analyses).

They import the runtime (``hear_mwmae``); the runtime never imports them. The subcommands reach
the ``hear-mwmae`` command through the ``hear_mwmae.commands`` entry points (tools/pyproject.toml).
"""
