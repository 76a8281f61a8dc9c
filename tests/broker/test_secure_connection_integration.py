"""TLS and SASL (PLAIN, SCRAM-SHA-256/512) settings reach aiokafka and Faust alike.

The embedded broker sits behind ``SecureProxy``, which does the TLS handshake and checks
credentials as a secured cluster would, then pipes to the real broker.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.broker.secure_proxy import SecureProxy
from tests.conftest import BrokerUnderTest, free_port
from tests.support.kafka_helpers import identify, membership_events, read_records, send_messages
from traitflow.broker.clients import publish
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.serve import prepare
from traitflow.broker.topics import wait_for_broker
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.exceptions import BrokerError
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

PASSWORD = "pa55-w0rd-never-logged"


class SecureCluster:
    def __init__(self, proxy: SecureProxy, ca_file: Path) -> None:
        self.proxy = proxy
        self.ca_file = ca_file

    def settings(self, tmp_path: Path, **overrides: object) -> Settings:
        plain = BrokerUnderTest(f"127.0.0.1:{self.proxy.port}", None, "secured")
        values: dict[str, object] = {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "alice",
            "kafka_sasl_password": PASSWORD,
            "kafka_ssl_cafile": self.ca_file,
        }
        return plain.settings(tmp_path, **{**values, **overrides})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    proxy_port = free_port()
    with (
        EmbeddedBroker(free_port(), advertised_port=proxy_port) as broker,
        SecureProxy(("127.0.0.1", broker.port), proxy_port, tls, {"alice": PASSWORD}) as proxy,
    ):
        yield SecureCluster(proxy, ca_file)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_clients_authenticate_over_tls(
    cluster: SecureCluster, tmp_path: Path, mechanism: str
) -> None:
    settings = cluster.settings(tmp_path, kafka_sasl_mechanism=mechanism)
    await prepare(settings)  # admin client: waits for the broker, creates the topics
    await publish(settings, settings.topics.events, [(b"ada", b"{}")])
    [record] = await read_records(settings, settings.topics.events, 1)
    assert record.value == b"{}"
    assert ("alice", mechanism) in cluster.proxy.authenticated


async def test_a_wrong_password_is_refused_with_a_clear_error(
    cluster: SecureCluster, tmp_path: Path
) -> None:
    settings = cluster.settings(tmp_path, kafka_sasl_password="wrong")
    with pytest.raises(BrokerError, match="no Kafka broker answered"):
        await wait_for_broker(settings, timeout=3)
    assert "SCRAM authentication failed for alice" in cluster.proxy.refused


async def test_plaintext_clients_cannot_talk_to_the_secured_port(
    cluster: SecureCluster, tmp_path: Path
) -> None:
    settings = cluster.settings(tmp_path, kafka_security_protocol="PLAINTEXT")
    with pytest.raises(BrokerError):
        await wait_for_broker(settings, timeout=3)


async def test_worker_processes_through_sasl_ssl_and_never_logs_the_password(
    cluster: SecureCluster, tmp_path: Path
) -> None:
    settings = cluster.settings(tmp_path)
    await prepare(settings)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        trial = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
        await apply_definitions(settings, [segment_from_spec(trial)])
        await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
        [event] = await membership_events(settings, 1, timeout=90)
        assert (event["type"], event["user_id"]) == ("audience.entered", "ada")
        command_line = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in command_line
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
    assert PASSWORD not in log.read_text()
