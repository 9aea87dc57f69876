"""HEAR evaluation: heareval 2021.1.3 driven on Python 3.11, and a small real-audio task suite.

- ``heareval_driver``: runs heareval's embeddings and predictions runners, unmodified, with
  the Python 3.11 workarounds applied from outside (docs/design.md §D14);
- ``models``: what ``--model SPEC`` means (our checkpoints, hf://, random:, HEAR modules);
- ``runner``: both stages for several models and tasks, skipping finished work;
- ``results``: mean ± 95 % CI per task and run times, as Markdown and JSON;
- ``tasks``: builders of real-audio tasks in the exact hearpreprocess on-disk format;
- ``cli``: ``hear-mwmae eval`` and ``hear-mwmae tasks``.

Install: ``pip install -e "tools/[eval]"`` plus the ``--no-deps`` packages (DEVELOPERS.md).
"""
