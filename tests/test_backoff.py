"""The one backoff (core/backoff.py) and the three loops that take their delays from it."""

from __future__ import annotations

from itertools import islice

import pytest

from paradexctl.core.backoff import Backoff
from paradexctl.paradex import ws as wsmod
from paradexctl.paradex.orders import LookupPolicy
from paradexctl.paradex.rest import RetryPolicy


def test_full_jitter_exponential_capped() -> None:
    b = Backoff(base=1.0, cap=8.0)
    assert [b.ceiling(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [b.delay(n, lambda: 0.5) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert b.delay(3, lambda: 0.0) == 0.0
    assert b.delay(3, None) == 8.0  # no jitter: the ceiling


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    b = Backoff(base=0.5, cap=30.0)
    assert b.ceiling(10_000) == 30.0  # 2.0**10000 overflows a float
    assert list(islice(Backoff(0.0, 5.0).delays(None), 3)) == [0.0, 0.0, 0.0]


def test_delays_iterate_forever_and_stop_growing_at_the_cap() -> None:
    it = Backoff(base=1.0, cap=8.0, factor=3.0).delays(lambda: 1.0)
    assert list(islice(it, 5)) == [1.0, 3.0, 8.0, 8.0, 8.0]
    assert list(islice(it, 2000))[-1] == 8.0


@pytest.mark.parametrize(
    "kw",
    [{"base": -1.0, "cap": 1.0}, {"base": 1.0, "cap": -1.0}, {"base": 1, "cap": 2, "factor": 0.5}],
)
def test_bad_parameters_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kw)


def test_the_three_loops_use_it() -> None:
    rng = iter([0.25, 0.5, 1.0, 1.0]).__next__
    assert list(islice(wsmod.backoff(base=1.0, cap=4.0, rng=rng), 4)) == [0.25, 1.0, 4.0, 4.0]
    retry = RetryPolicy(base=1.0, cap=4.0, rng=lambda: 0.5)
    assert [retry.backoff(n) for n in (0, 1, 2, 3, 5000)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    lookup = LookupPolicy(rounds=5, base=0.2, cap=0.5)
    assert list(lookup.delays()) == [0.2, 0.4, 0.5, 0.5]  # one fewer than the lookups
    assert list(LookupPolicy(rounds=0).delays()) == []
