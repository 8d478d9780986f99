"""Helpers that only the tests use (and a few benches, through ``tests`` on ``sys.path``): tiny random
models and synthetic tables (:mod:`support.tiny_models`, :mod:`support.synthetic_study`), the
session's finished tiny run (:mod:`support.finished_run`) and the kill points of the fault tests
(``killpoint/sitecustomize.py``). The package ``factsurv`` does not import them."""
