"""The test scheduler of conftest.py (pytest-xdist): whole modules per worker, the users of a shared
run together, the costliest scopes handed out first."""

from __future__ import annotations

from conftest import COSTLY_SCOPES, REPO, SHARED_RUNS, scheduling_scope, scope_rank


def test_users_of_a_shared_run_are_one_scope_and_other_modules_their_own():
    shared = SHARED_RUNS[0]  # by name: a module that spells the fixture's name joins its scope
    users = [p for p in sorted((REPO / "tests").glob("test_*.py")) if shared in p.read_text()]
    assert len(users) >= 2
    assert {scheduling_scope(f"tests/{p.name}::test_x") for p in users} == {shared}
    assert scheduling_scope("tests/test_scheduling.py::test_x") == "tests/test_scheduling.py"


def test_costly_scopes_name_real_modules_and_go_first_in_their_order():
    for scope in COSTLY_SCOPES:
        assert scope in SHARED_RUNS or (REPO / scope).is_file(), f"{scope}: no such test module or shared run"
        if scope not in SHARED_RUNS:
            assert scheduling_scope(f"{scope}::test_x") == scope, f"{scope} is inside a shared scope"
    queue = ["tests/test_other.py", *reversed(COSTLY_SCOPES), "tests/test_bad_inputs.py"]
    ordered = sorted(queue, key=scope_rank)
    assert ordered[: len(COSTLY_SCOPES)] == list(COSTLY_SCOPES)
    assert ordered[len(COSTLY_SCOPES):] == ["tests/test_other.py", "tests/test_bad_inputs.py"]
