"""Failed sign-ins are limited per caller."""

from __future__ import annotations

from traitflow.console.views import FailedSignIns


def test_a_caller_past_ten_failures_a_minute_waits() -> None:
    now = [1000.0]
    failures = FailedSignIns(clock=lambda: now[0])
    for n in range(1, 11):
        assert failures.wait_s("10.0.0.9") == 0
        assert failures.failed("10.0.0.9") == n
        now[0] += 1
    assert failures.wait_s("10.0.0.9") == 50  # the first failure leaves the window then
    assert failures.wait_s("10.0.0.8") == 0  # another caller is not held
    now[0] += 50
    assert failures.wait_s("10.0.0.9") == 0
