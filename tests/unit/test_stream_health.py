"""``/readyz`` names a stream the last publish could not reach, until a publish succeeds."""

from __future__ import annotations

from producer.telemetry.health import DomainStatus


def test_a_failed_publish_makes_the_domain_unready_naming_the_stream() -> None:
    status = DomainStatus(worker_running=True, token_ready=lambda: True)
    assert status.not_ready_reason() is None
    status.stream_error = "kinesis://tel-v1: unavailable for 300 s"
    assert status.not_ready_reason() == "stream: kinesis://tel-v1: unavailable for 300 s"
    status.stream_error = None
    assert status.not_ready_reason() is None
