"""How every Kafka client connects: bootstrap servers, TLS and SASL, from ``Settings``.

One function per client library (aiokafka for the tools, bridge and deliverer; Faust for
the worker) so that a cluster that needs TLS or SCRAM is configured once for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from traitflow.config import Settings, read_secret
from traitflow.exceptions import BrokerError, ConfigError


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka client (producer, consumer, admin)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = sasl_password(settings)
    return options


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The same connection for Faust's ``broker_credentials``."""
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol.startswith("SASL"):
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=sasl_password(settings),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the broker's certificate (system CAs unless a CA file is given)."""
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=_path(settings.kafka_ssl_cafile),
            certfile=_path(settings.kafka_ssl_certfile),
            keyfile=_path(settings.kafka_ssl_keyfile),
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the Kafka TLS files: {exc}") from exc
    return context


def sasl_password(settings: Settings) -> str:
    password = read_secret(
        settings.kafka_sasl_password, settings.kafka_sasl_password_file, "SASL password"
    )
    if password is None:
        raise ConfigError(
            "SASL needs a password: TRAITFLOW_KAFKA_SASL_PASSWORD or "
            "TRAITFLOW_KAFKA_SASL_PASSWORD_FILE"
        )
    return password.decode()


def _path(path: object) -> str | None:
    return None if path is None else str(path)


def unreachable(settings: Settings, exc: BaseException) -> BrokerError:
    """What a command says when Kafka does not answer: one line, and what to do."""
    where = settings.kafka_bootstrap
    if settings.embedded:
        advice = (
            "the embedded broker is not running: start everything with `traitflow up` "
            "(or `traitflow broker`), or set TRAITFLOW_BOOTSTRAP_SERVERS to your cluster"
        )
    else:
        advice = "check TRAITFLOW_BOOTSTRAP_SERVERS (--bootstrap-servers) and that Kafka is up"
    return BrokerError(f"cannot reach Kafka at {where} ({type(exc).__name__}): {advice}")


async def start_client(client: Any, settings: Settings) -> None:
    """Start an aiokafka client; a broker that does not answer is a ``BrokerError`` that
    says what to do, and the half-started client is closed."""
    quiet = logging.getLogger("aiokafka")  # its own line would repeat ours, less clearly
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await client.start()
    except (KafkaError, OSError) as exc:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await (client.close() if hasattr(client, "close") else client.stop())
        raise unreachable(settings, exc) from None
    finally:
        quiet.setLevel(level)
