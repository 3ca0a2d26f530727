"""The training layer: a run from its config to its folder. `checks` refuses what would not run or
would do nothing, `build` makes the typed bundles (`Inference`, `Training`), `loop` trains, `run`
starts and resumes runs, `saved` reopens one; evaluation, losses, precision, EMA, TTA, diagnostics
and transfer learning are its parts.

Layer: above data, nn, models, optim, distributed, runs and report; below style, experiments and
the command line.
"""
