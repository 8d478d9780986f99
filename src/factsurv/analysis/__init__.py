"""The analysis stage: trajectories, survival events, Cox models, Kaplan–Meier, dynamics, figures.

Every function here works on tidy pandas tables (the files of ``docs/design.md``), so the whole
stage can be run and tested from the files alone, whatever model produced them.
"""

#: the survival events a fact can have (SPEC §2), each with its own table and models
EVENT_KINDS = ("acquisition", "generalization", "degradation")

__all__ = ["EVENT_KINDS"]
