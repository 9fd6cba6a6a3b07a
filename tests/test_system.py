"""paradexctl.paradex.system without sockets: the order-entry rule of each system state,
waiting for ok on a fake clock, and the shapes of ``/system/state`` and ``/system/time``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from paradexctl.errors import ExchangeRestricted, ExchangeUnavailable, UnexpectedAnswer
from paradexctl.paradex.rest import RestClient, RetryPolicy
from paradexctl.paradex.system import POLL_BACKOFF, order_gate, read_clock, read_state, wait_ok

BASE = "https://x.invalid/v1"


def client(path_bodies: dict[str, Any]) -> RestClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = path_bodies[request.url.path.removeprefix("/v1")]
        return httpx.Response(200, content=json.dumps(body).encode())

    retry = RetryPolicy(attempts=1, base=0, cap=0, sleep=lambda s: None, rng=lambda: 1.0)
    return RestClient(BASE, transport=httpx.MockTransport(handler), retry=retry)


# ----------------------------------------------------------------------------- the rule


def test_ok_sends_everything_without_a_word() -> None:
    assert order_gate("ok", ["GTC", "IOC", "POST_ONLY"]) is None


@pytest.mark.parametrize("state", ["cancel_only", "maintenance"])
def test_a_stopping_state_refuses_every_order_with_exit_7(state: str) -> None:
    for instructions in (["GTC"], ["POST_ONLY"], ["POST_ONLY", "GTC"]):
        with pytest.raises(ExchangeRestricted) as info:
            order_gate(state, instructions)
        assert info.value.exit_code == 7 and info.value.state == state
        assert info.value.details == {"system_state": state}
        assert "not signed or sent" in info.value.message


def test_post_only_warns_only_about_orders_that_are_not_post_only() -> None:
    assert order_gate("post_only", ["POST_ONLY", "POST_ONLY"]) is None
    one = order_gate("post_only", ["GTC"])
    assert one is not None and "this order is not POST_ONLY" in one
    some = order_gate("post_only", ["POST_ONLY", "IOC", "GTC"])
    assert some is not None and "2 of these 3 orders are not POST_ONLY" in some


def test_a_state_nobody_documented_warns_and_sends() -> None:
    warning = order_gate("degraded", ["GTC"])
    assert warning is not None and "'degraded'" in warning


# ----------------------------------------------------------------------------- waiting


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_wait_ok_polls_on_the_backoff_until_ok_and_reports_progress() -> None:
    t = FakeTime()
    states = iter(["cancel_only", "cancel_only", "post_only", "post_only", "ok"])
    progress: list[tuple[str, float]] = []
    got = wait_ok(lambda: next(states), timeout_s=600, clock=t.clock, sleep=t.sleep,
                  on_wait=lambda s, left: progress.append((s, left)))  # fmt: skip
    assert got == "ok"
    assert t.slept == [POLL_BACKOFF.ceiling(n) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert [s for s, _ in progress] == ["cancel_only", "cancel_only", "post_only", "post_only"]
    assert progress[0][1] == 600 and progress[-1][1] == 600 - 7.0


def test_wait_ok_never_sleeps_past_its_deadline_and_then_exits_7() -> None:
    t = FakeTime()
    with pytest.raises(ExchangeRestricted) as info:
        wait_ok(lambda: "maintenance", timeout_s=10, clock=t.clock, sleep=t.sleep)
    assert t.slept == [1.0, 2.0, 4.0, 3.0]  # the last one cut to the deadline
    assert t.now == 1010.0
    assert info.value.state == "maintenance" and "after waiting 10 s" in info.value.message


def test_wait_ok_with_no_time_reads_once() -> None:
    t = FakeTime()
    assert wait_ok(lambda: "ok", timeout_s=0, clock=t.clock, sleep=t.sleep) == "ok"
    with pytest.raises(ExchangeRestricted):
        wait_ok(lambda: "post_only", timeout_s=0, clock=t.clock, sleep=t.sleep)
    assert t.slept == []


# ----------------------------------------------------------------------------- the answers


def test_the_state_is_read_lower_cased() -> None:
    assert read_state(client({"/system/state": {"status": " CANCEL_ONLY "}})) == "cancel_only"


@pytest.mark.parametrize("body", [[], "ok", {}, {"status": 1}, {"status": ""}, {"status": None}])
def test_a_state_answer_without_a_status_string_is_exit_5(body: Any) -> None:
    with pytest.raises(UnexpectedAnswer) as info:
        read_state(client({"/system/state": body}))
    assert info.value.exit_code == 5 and "GET /system/state" in info.value.message


def test_the_clock_reading_takes_the_midpoint_of_the_request() -> None:
    ticks = iter([1_000, 1_040])
    reading = read_clock(client({"/system/time": {"server_time": "1100"}}), lambda: next(ticks))
    assert (reading.server_ms, reading.local_ms, reading.round_trip_ms) == (1100, 1020, 40)
    assert reading.skew_ms == 80


@pytest.mark.parametrize("raw", [None, "", "12.5", "-3", True, 1.5, [1], "1e3"])
def test_a_server_time_that_is_no_whole_ms_is_exit_5(raw: Any) -> None:
    with pytest.raises(UnexpectedAnswer):
        read_clock(client({"/system/time": {"server_time": raw}}), lambda: 0)


def test_an_integer_server_time_is_taken() -> None:
    reading = read_clock(client({"/system/time": {"server_time": 5}}), lambda: 0)
    assert reading.server_ms == 5


def test_wait_ok_waits_out_an_exchange_that_does_not_answer_for_a_moment() -> None:
    t = FakeTime()
    answers: list[str | Exception] = [ExchangeUnavailable("GET /system/state: 503"),
                                      "cancel_only", ExchangeUnavailable("reset"), "ok"]  # fmt: skip

    def read() -> str:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    seen: list[str] = []
    assert wait_ok(read, timeout_s=60, clock=t.clock, sleep=t.sleep,
                   on_wait=lambda s, _: seen.append(s)) == "ok"  # fmt: skip
    assert seen == ["unreachable", "cancel_only", "unreachable"]


def test_wait_ok_ends_with_the_last_failure_when_the_exchange_never_answered() -> None:
    t = FakeTime()

    def read() -> str:
        raise ExchangeUnavailable("GET /system/state: connection refused")

    with pytest.raises(ExchangeUnavailable) as info:
        wait_ok(read, timeout_s=5, clock=t.clock, sleep=t.sleep)
    assert info.value.exit_code == 5 and "connection refused" in info.value.message
    assert t.now == 1005.0


def test_wait_ok_does_not_wait_out_an_answer_of_the_wrong_shape() -> None:
    t = FakeTime()

    def read() -> str:
        raise UnexpectedAnswer("GET /system/state", "an object", "a list")

    with pytest.raises(UnexpectedAnswer):
        wait_ok(read, timeout_s=60, clock=t.clock, sleep=t.sleep)
    assert t.slept == []


def test_wait_ok_jitters_its_delays_with_the_rng_it_is_given() -> None:
    t = FakeTime()
    states = iter(["post_only", "post_only", "ok"])
    wait_ok(lambda: next(states), timeout_s=60, clock=t.clock, sleep=t.sleep, rng=lambda: 0.5)
    assert t.slept == [0.5, 1.0]
