"""Kafka refused an operation: the one line that names it, the resource, the principal and
the setting to fix, in place of aiokafka's traceback. Every client traitflow starts goes
through ``explained`` (``traitflow.broker.clients``) or ``refusal`` (topic creation)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from traitflow.config import Settings
from traitflow.exceptions import BrokerError

RESOURCES: dict[type[Exception], str] = {
    TopicAuthorizationFailedError: "topic",
    GroupAuthorizationFailedError: "group",
    ClusterAuthorizationFailedError: "cluster",
    TransactionalIdAuthorizationFailed: "transactional-id",
}
REFUSED = tuple(RESOURCES)


def principal(settings: Settings) -> tuple[str, str]:
    """Who the brokers see, and the setting that chooses it."""
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL"):
        return f"User:{settings.kafka_sasl_username}", "TRAITFLOW_KAFKA_SASL_USERNAME"
    if settings.kafka_ssl_certfile is not None:
        return "the certificate's principal", "TRAITFLOW_KAFKA_SSL_CERTFILE"
    return "User:ANONYMOUS", "TRAITFLOW_KAFKA_SECURITY_PROTOCOL (and its credentials)"


def refusal(settings: Settings, exc: BaseException, operation: str, name: str = "") -> BrokerError:
    """The ``BrokerError`` for an authorization failure of ``operation`` (Write, Read,
    Create...); the resource's name from the error when not given."""
    return BrokerError(refused_line(exc, operation, name, *principal(settings)))


def refused_line(exc: BaseException, operation: str, name: str, who: str, setting: str) -> str:
    kind = next((kind for cls, kind in RESOURCES.items() if isinstance(exc, cls)), "topic")
    if not name and exc.args:
        named = exc.args[0]
        name = ", ".join(map(str, named)) if isinstance(named, (list, set, tuple)) else str(named)
    flag = "--cluster" if kind == "cluster" else f"--{kind} {name or '<name>'}"
    resource = "the cluster" if kind == "cluster" else f"{kind} {name or '(unnamed)'}"
    allowed = who if who.startswith("User:") else "<principal>"
    return (
        f"Kafka refused {operation} on {resource} to {who}: grant it with an ACL (kafka-acls "
        f"--add --allow-principal {allowed} --operation {operation} {flag}), or set {setting} "
        "to a principal that has it"
    )


@asynccontextmanager
async def explained(settings: Settings, operation: str) -> AsyncIterator[None]:
    """Authorization failures inside become ``refusal``'s one line."""
    try:
        yield
    except REFUSED as exc:
        raise refusal(settings, exc, operation) from None


class RefusalFilter(logging.Filter):
    """On the worker's log handler: a line whose exception is Kafka's refusal (Faust's
    own clients raise them, with a traceback through its services) becomes the one line
    of ``refusal``, naming the operation as far as the error tells it."""

    def __init__(self, who: str, setting: str) -> None:
        super().__init__()
        self.who, self.setting = who, setting

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, REFUSED):
            text = str(exc.args[0]) if exc.args else ""
            created = re.search(r"create topic:? (\S+)", text, re.IGNORECASE)
            if created:
                operation, name = "Create", created.group(1)
            else:
                operation, name = "Read", ""  # a fetch, or the group's offsets
            record.msg = refused_line(exc, operation, name, self.who, self.setting)
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
