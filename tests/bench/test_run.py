"""`make bench`'s own arithmetic (bench/run.py): reading CPU time from /proc's stat lines,
adding it up per answer across the worker, PostgreSQL and Redis, where the server and the
load are placed, and each target of issue 19 judged met or not from the figures. Fake
/proc-like inputs and fake rows: no server runs here (the bench itself is `make bench`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _stat(pid: int, name: str, utime: int, stime: int) -> str:
    # /proc/PID/stat: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime ...; children's times (cutime) are not ours.
    return f"{pid} ({name}) S 1 {pid} {pid} 0 -1 4194560 120 0 0 0 {utime} {stime} 999 999 20 0"


def test_cpu_time_is_user_plus_system_of_the_process_not_its_children(run):
    assert run.cpu_seconds_of(_stat(7, "postgres", 250, 50), 100) == 3.0


def test_a_process_name_with_spaces_and_parentheses_does_not_shift_the_fields(run):
    stat = _stat(8, "granian worker-1 (x) y", 30, 10)
    assert run.cpu_seconds_of(stat, 100) == 0.4


def test_cpu_used_counts_growth_and_whole_newcomers(run):
    before = {10: 1.0, 11: 2.0, 12: 5.0}
    after = {10: 1.5, 11: 2.0, 13: 0.25}  # 12 went away, 13 connected during the run
    assert run.cpu_used(before, after) == pytest.approx(0.75)


def test_cpu_per_answer_splits_worker_postgresql_and_redis(run):
    before = {"worker": {1: 10.0}, "pg": {20: 1.0}, "redis": {30: 0.5}}
    after = {"worker": {1: 12.0}, "pg": {20: 1.2, 21: 0.1}, "redis": {30: 0.6}}
    figures = run.cpu_per_answer(before, after, answers=500)
    assert figures["worker_cpu_ms"] == 4.0
    assert figures["pg_cpu_ms"] == 0.6
    assert figures["redis_cpu_ms"] == 0.2
    assert figures["total_cpu_ms"] == 4.8
    assert figures["per_core_per_second"] == 208.3
    assert "worker_cpu_split" not in figures  # one worker: nothing to split


def test_a_group_not_measured_stays_out_of_the_total_and_is_said_so(run):
    before = {"worker": {1: 0.0, 2: 0.0}, "pg": {}, "redis": None}
    after = {"worker": {1: 0.3, 2: 0.1}, "pg": {}, "redis": None}
    figures = run.cpu_per_answer(before, after, answers=100)
    assert figures["redis_cpu_ms"] is None
    assert figures["pg_cpu_ms"] == 0.0
    assert figures["total_cpu_ms"] == 4.0
    assert figures["worker_cpu_split"] == [0.75, 0.25]


def test_no_answers_gives_no_figure_rather_than_a_division_by_zero(run):
    sample = {"worker": {1: 1.0}, "pg": {}, "redis": {3: 1.0}}
    figures = run.cpu_per_answer(sample, sample, answers=0)
    assert figures["worker_cpu_ms"] is None
    assert figures["total_cpu_ms"] is None
    assert figures["per_core_per_second"] is None


def test_one_worker_on_two_cores_is_kept_apart_from_the_load(run):
    place = run.plan_cores([1, 0], workers=1, taskset=True)
    assert (place.server, place.load, place.separated) == ((0,), (1,), True)
    assert run.pinned(place.load, ["wrk", "-c", "16"]) == ["taskset", "-c", "1", "wrk", "-c", "16"]


def test_a_worker_per_core_cannot_be_kept_apart_and_the_note_says_so(run):
    place = run.plan_cores([0, 1], workers=2, taskset=True)
    assert not place.separated
    assert "cannot be kept apart" in place.note
    assert run.pinned(place.load, ["wrk"]) == ["wrk"]


def test_without_taskset_nothing_is_pinned_and_the_note_says_why(run):
    place = run.plan_cores([0, 1], workers=1, taskset=False)
    assert (place.server, place.load) == (None, None)
    assert "taskset" in place.note


def test_one_core_leaves_nothing_to_separate(run):
    assert not run.plan_cores([0], workers=1, taskset=True).separated


def _row(run, scenario, per_second, system="Tillid", workers=1, non_2xx=0, **cpu):
    return {"scenario": scenario, "system": system, "workers": workers,
            "per_second": per_second, "non_2xx": non_2xx, **cpu}  # fmt: skip


def _ledger(*sizes):
    return {"writers": 64, "citizens": 2000, "sizes": [
        {"entries": entries, "append": {"appends_per_second": appends, "pending_at_end": 7},
         "proof": {"p99_ms": proof}, "page": {"p99_ms": page}}
        for entries, appends, proof, page in sizes]}  # fmt: skip


@pytest.fixture
def rows(run):
    return [
        _row(run, run.CC, 2000, system=run.PEER, worker_cpu_ms=0.4),
        _row(run, run.INTROSPECTION, 3000, system=run.PEER, worker_cpu_ms=0.2),
        _row(run, run.CC, 1200, worker_cpu_ms=0.8, total_cpu_ms=1.0, per_core_per_second=1000),
        _row(run, run.INTROSPECTION, 900, worker_cpu_ms=1.0, total_cpu_ms=1.1),
        _row(run, run.USERINFO, 1000),
        _row(
            run,
            run.LOGIN,
            14,
            worker_cpu_ms=50,
            pg_cpu_ms=8,
            redis_cpu_ms=2,
            per_core_per_second=16.7,
        ),
        _row(run, run.CC, 1900, workers=2, non_2xx=0),
    ]


def _verdicts(checks):
    return {check["target"]: check["met"] for check in checks}


def test_targets_are_judged_from_the_figures(run, rows):
    ledger = _ledger((1_000_000, 6000, 8.0, 40.0), (10_000_000, 5200, 9.5, 60.0))
    verdicts = _verdicts(run.targets(rows, ledger))
    assert verdicts == {
        "client_credentials ≥ 1,000/s per worker": True,
        "client_credentials ≥ 0.5 of oidc-provider (same run, by rate and by CPU per answer)": (
            True  # 0.6 by rate, 0.5 by CPU
        ),
        "introspection ≥ 1,000/s per worker": False,
        "introspection ≥ 0.5 of oidc-provider (same run, by rate and by CPU per answer)": False,
        "userinfo ≥ 1,000/s per worker": True,
        "password + TOTP logins ≥ 15/s per core": True,  # by CPU, not by its rate of 14/s
        "passkey logins ≥ 50/s per core": None,
        "ledger ≥ 5,000 appends/s": True,  # at the largest size
        "the sequencer keeps up (pending at the end < 1 s of appends)": True,
        "inclusion proof p99 < 10 ms at 10M entries": True,
        "citizen's log page p99 < 50 ms at 10M entries": False,
        "zero non-2xx in every run": True,
    }


def test_a_quick_run_does_not_judge_the_ten_million_targets(run, rows):
    checks = run.targets(rows, _ledger((100_000, 300, 20.0, 90.0)),
                         notes=["passkey logins not run: no --method here"])  # fmt: skip
    by_target = {check["target"]: check for check in checks}
    proof = by_target["inclusion proof p99 < 10 ms at 10M entries"]
    assert proof["met"] is None
    assert "100,000" in proof["measured"]
    assert by_target["ledger ≥ 5,000 appends/s"]["met"] is False
    passkeys = by_target["passkey logins ≥ 50/s per core"]
    assert passkeys["measured"] == "passkey logins not run: no --method here"


def test_a_single_non_2xx_answer_anywhere_fails_that_target(run, rows):
    rows.append(_row(run, run.USERINFO, 500, workers=2, non_2xx=1))
    checks = _verdicts(run.targets(rows, _ledger()))
    assert checks["zero non-2xx in every run"] is False


def test_peer_ratios_by_rate_and_by_cpu_per_answer(run, rows):
    ratios = run.peer_ratios(rows)
    assert ratios[run.CC]["rate"] == 0.6
    assert ratios[run.CC]["worker_cpu"] == 2.0
    assert ratios[run.CC]["total_cpu"] == 2.5
    assert ratios[run.INTROSPECTION]["rate"] == 0.3
    assert ratios[run.INTROSPECTION]["worker_cpu"] == 5.0


def test_a_peer_slowed_by_other_work_does_not_make_the_ratio_met(run, rows):
    """The peer's rate fell (the machine was busy during its run) but its CPU per answer
    did not: Tillid's worker still spends five times the CPU, so the target is not met."""
    peer = run.find(rows, run.INTROSPECTION, run.PEER)
    peer["per_second"] = 400  # Tillid's 900/s is now 2.25 of it
    checks = {check["target"]: check for check in run.targets(rows, _ledger())}
    ratio = checks["introspection ≥ 0.5 of oidc-provider (same run, by rate and by CPU per answer)"]
    assert ratio["met"] is False
    assert ratio["value"] == 0.2


def test_a_sequencer_left_behind_fails_its_target(run, rows):
    ledger = _ledger((100_000, 300, 20.0, 90.0))
    ledger["sizes"][0]["append"]["pending_at_end"] = 900  # three seconds of appends
    checks = _verdicts(run.targets(rows, ledger))
    assert checks["the sequencer keeps up (pending at the end < 1 s of appends)"] is False


def test_only_names_scenarios_by_their_short_names(run):
    assert run.only_scenarios("cc, introspection") == {run.CC, run.INTROSPECTION}
    assert run.only_scenarios("peer,ledger") == {run.PEER, run.LEDGER}
    assert set(map(run.only_scenarios, run.ONLY)) == {frozenset({name})
                                                      for name in run.ONLY.values()}  # fmt: skip


@pytest.mark.parametrize("value", ["cc,tokens", "", "cc,", "CC"])
def test_only_refuses_a_name_it_does_not_know_and_lists_the_scenarios(run, value):
    with pytest.raises(run.argparse.ArgumentTypeError) as refused:
        run.only_scenarios(value)
    assert "no scenario" in str(refused.value) and "cc, cc-rs256, introspection" in str(
        refused.value
    )


def test_only_on_the_command_line(run):
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--only",
                              "cc,userinfo,logins"], capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2
    assert "argument --only: no scenario 'logins'" in refused.stderr


def test_a_bench_with_only_measures_only_those(run):
    some = run.Bench(True, None, None, run.only_scenarios("cc,ledger"))
    assert [s for s in (run.CC, run.CC_RS256, run.LOGIN, run.LEDGER, run.PEER)
            if some.wanted(s)] == [run.CC, run.LEDGER]  # fmt: skip
    every = run.Bench(True, None, None)
    assert all(map(every.wanted, run.ONLY.values()))
