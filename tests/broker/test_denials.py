"""Kafka's refusals become one line naming the operation, the resource, the principal and
the setting that chooses it."""

from __future__ import annotations

import logging
import sys

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from traitflow.broker.denials import RefusalFilter, explained, principal
from traitflow.config import Settings
from traitflow.exceptions import BrokerError


def test_the_principal_is_the_one_the_brokers_see(tmp_path: object) -> None:
    sasl = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="alice",
                    kafka_sasl_password="x", bootstrap_servers="k:9093")  # fmt: skip
    assert principal(sasl) == ("User:alice", "TRAITFLOW_KAFKA_SASL_USERNAME")
    assert principal(Settings())[0] == "User:ANONYMOUS"


async def test_a_refusal_inside_names_operation_topic_and_setting() -> None:
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="bob",
                        kafka_sasl_password="x", bootstrap_servers="k:9093")  # fmt: skip
    with pytest.raises(BrokerError) as caught:
        async with explained(settings, "Write"):
            raise TopicAuthorizationFailedError("p-segments")
    line = str(caught.value)
    assert line.startswith("Kafka refused Write on topic p-segments to User:bob: ")
    assert "--operation Write --topic p-segments" in line
    assert "TRAITFLOW_KAFKA_SASL_USERNAME" in line
    with pytest.raises(ValueError):  # anything else goes through as it was
        async with explained(settings, "Write"):
            raise ValueError("not Kafka's")


def test_the_worker_s_log_line_for_faust_s_refusal_has_no_traceback() -> None:
    keep = RefusalFilter("User:bob", "TRAITFLOW_KAFKA_SASL_USERNAME")
    for exc, expected in (
        (TopicAuthorizationFailedError("Cannot create topic: app-__leader (29): failed."),
         "Kafka refused Create on topic app-__leader to User:bob"),
        (GroupAuthorizationFailedError("app-worker"), "Kafka refused Read on group app-worker"),
    ):  # fmt: skip
        try:
            raise exc
        except Exception:
            record = logging.LogRecord("faust.worker", logging.ERROR, "", 0, "Error: %r",
                                       (exc,), sys.exc_info())  # fmt: skip
        assert keep.filter(record)
        assert record.getMessage().startswith(expected), record.getMessage()
        assert record.exc_info is None
    plain = logging.LogRecord("x", logging.INFO, "", 0, "hello %s", ("there",), None)
    assert keep.filter(plain) and plain.getMessage() == "hello there"
