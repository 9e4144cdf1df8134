"""bench/ledger.py's own arithmetic for the citizen's reads: where the slowest answers went
(work, garbage collection, or waiting) and the collector's pauses summed. Fake answers: no
ledger is filled here (the bench itself is `make bench`)."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ledger():
    spec = importlib.util.spec_from_file_location("bench_ledger", ROOT / "bench" / "ledger.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answer(ms: float, app: float, postgres: float, collected: float = 0.0) -> dict:
    return {"ms": ms, "app_cpu_ms": app, "postgres_cpu_ms": postgres, "gc_ms": collected}


def test_the_tail_is_the_slowest_answers_and_the_share_of_their_time_spent_waiting(ledger):
    quick = [_answer(10, 8, 2) for _ in range(100)]
    waited = _answer(180, 9, 1)  # 170 ms of no CPU: a core or a disk
    worked = _answer(60, 55, 5, collected=40)  # a garbage collection
    tail = ledger._tail([*quick[:50], waited, *quick[50:], worked])
    assert tail["slowest"][:2] == [waited, worked]
    assert len(tail["slowest"]) == 3  # at least three, else one in fifty
    # (180 - 10) + (60 - 60) + (10 - 10) of 250 ms
    assert tail["waiting_share"] == round(170 / 250, 2)
    # More CPU than wall time (two processes at once) is no negative wait.
    assert ledger._tail([_answer(5, 4, 3)])["waiting_share"] == 0


def test_the_pauses_add_up_each_collection(ledger):
    pauses = ledger._Pauses()
    gc.callbacks.append(pauses)
    try:
        gc.collect()
        once = pauses.seconds
        gc.collect()
    finally:
        gc.callbacks.remove(pauses)
    assert 0 < once < pauses.seconds
