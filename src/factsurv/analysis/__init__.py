"""The analysis stage: trajectories, survival events, Cox models, Kaplan–Meier, dynamics, figures.

Every function here works on tidy pandas tables (the files of ``docs/design.md``), so the whole
stage can be run and tested from the files alone, whatever model produced them.
"""

KINDS = ("acquisition", "generalization", "degradation")

__all__ = ["KINDS"]
