"""Connections as production makes them, on Apache Kafka configured by the test with a CA
and certificates it creates: SASL_SSL with SCRAM-SHA-512, mutual TLS, and ACLs. A
principal that lacks an ACL fails with one line naming the operation, the resource and
the setting to fix, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from tests.conftest import BrokerUnderTest, need_apache_kafka
from tests.support.apache_kafka import KafkaCluster
from tests.support.kafka_helpers import identify, membership_events, send_messages
from traitflow.broker.serve import prepare
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import settings_env, start_worker, stop_process, worker_process

pytestmark = [pytest.mark.integration, pytest.mark.own_cluster]

PASSWORDS = {"alice": "alice-pa55-never-logged", "bob": "bob-pa55-never-logged"}
TRIAL = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
PREFIX = "secured"  # every test's topics and group start with it


def pkcs8(key_pem: bytes) -> bytes:
    """Kafka's PEM key stores read PKCS#8 keys only."""
    key = load_pem_private_key(key_pem, password=None)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@dataclass
class Secured:
    cluster: KafkaCluster
    directory: Path

    def settings(self, tmp_path: Path, listener: str, **values: object) -> Settings:
        plain = BrokerUnderTest(self.cluster.bootstrap_for(listener), None, "secured")
        configured = plain.settings(tmp_path, kafka_ssl_cafile=self.directory / "ca.pem", **values)
        return configured.model_copy(update={"topic_prefix": f"{PREFIX}-{configured.topic_prefix}"})

    def sasl(self, tmp_path: Path, user: str) -> Settings:
        return self.settings(
            tmp_path, "SASL_SSL", kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=user,
            kafka_sasl_password=PASSWORDS[user],
        )  # fmt: skip

    def mutual_tls(self, tmp_path: Path) -> Settings:
        return self.settings(
            tmp_path, "SSL", kafka_security_protocol="SSL",
            kafka_ssl_certfile=self.directory / "client.pem",
            kafka_ssl_keyfile=self.directory / "client.key",
        )  # fmt: skip


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    need_apache_kafka()
    directory = tmp_path_factory.mktemp("secured")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    (directory / "server.pem").write_bytes(
        pkcs8(server.private_key_pem.bytes()) + b"".join(p.bytes() for p in server.cert_chain_pems)
    )
    client = ca.issue_cert("worker-tls.example", common_name="worker-tls")
    (directory / "client.key").write_bytes(pkcs8(client.private_key_pem.bytes()))
    (directory / "client.pem").write_bytes(b"".join(p.bytes() for p in client.cert_chain_pems))
    tls = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(directory / "server.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(directory / "ca.pem"),
        "ssl.endpoint.identification.algorithm": "",
    }
    properties = {
        **{f"listener.name.sasl_ssl.{key}": value for key, value in tls.items()},
        **{f"listener.name.ssl.{key}": value for key, value in tls.items()},
        "listener.name.ssl.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]*).*$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",  # the PLAINTEXT listener: brokers, and the test
        "allow.everyone.if.no.acl.found": "false",
    }  # fmt: skip
    cluster = KafkaCluster(
        1,
        home=directory / "kafka",
        properties=properties,
        listeners={"SASL_SSL": "SASL_SSL", "SSL": "SSL"},
        scram_users=PASSWORDS,
    )
    with cluster:
        for principal in ("User:alice", "User:worker-tls"):  # all a worker needs, by prefix
            for resource in ("--topic", "--group", "--transactional-id"):
                cluster.acls("--add", "--allow-principal", principal, "--operation", "All",
                             "--resource-pattern-type", "prefixed", resource, PREFIX)  # fmt: skip
        # bob may read every traitflow topic, and write none
        cluster.acls("--add", "--allow-principal", "User:bob", "--operation", "Read",
                     "--operation", "Describe", "--resource-pattern-type", "prefixed",
                     "--topic", PREFIX)  # fmt: skip
        yield Secured(cluster, directory)


@pytest.mark.parametrize("connection", ["SASL_SSL", "mutual TLS"])
async def test_a_worker_on_a_secured_cluster(
    secured: Secured, tmp_path: Path, connection: str
) -> None:
    settings = (
        secured.sasl(tmp_path, "alice")
        if connection == "SASL_SSL"
        else secured.mutual_tls(tmp_path)
    )
    await prepare(settings)
    log = tmp_path / "worker.log"
    with worker_process(settings, log):
        await apply_definitions(settings, [segment_from_spec(TRIAL)])
        await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
        [entered] = await membership_events(settings, 1)
    assert (entered["person"], entered["type"]) == ("ada", "audience.entered")
    assert PASSWORDS["alice"] not in log.read_text()


async def test_a_principal_without_an_acl_gets_one_line(secured: Secured, tmp_path: Path) -> None:
    alice = secured.sasl(tmp_path, "alice")
    await prepare(alice)  # the topics exist; bob may read them, not write
    bob = secured.sasl(tmp_path, "bob").model_copy(update={"topic_prefix": alice.topic_prefix})
    definitions = tmp_path / "trial.yaml"
    definitions.write_text("key: trial\ncondition: {trait: plan, op: '=', value: trial}\n")
    result = subprocess.run(
        [sys.executable, "-m", "traitflow", "segments", "apply", str(definitions)],
        env={**os.environ, **settings_env(bob)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and PASSWORDS["bob"] not in output
    [line] = [line for line in output.splitlines() if line.strip()]
    for words in ("Write", f"topic {alice.topics.segments}", "User:bob",
                  "TRAITFLOW_KAFKA_SASL_USERNAME"):  # fmt: skip
        assert words in line, line


async def test_a_worker_without_its_acls_stops_with_one_line(
    secured: Secured, tmp_path: Path
) -> None:
    alice = secured.sasl(tmp_path, "alice")
    await prepare(alice)
    bob = secured.sasl(tmp_path, "bob").model_copy(update={"topic_prefix": alice.topic_prefix})
    log = tmp_path / "worker.log"
    process = start_worker(bob, log)
    try:
        code = process.wait(120)
    finally:
        stop_process(process)
    text = log.read_text()
    assert code != 0
    assert "Traceback" not in text and PASSWORDS["bob"] not in text
    [line] = [line for line in text.splitlines() if " ERROR " in line]
    for words in ("Kafka refused Create on topic", alice.app_id, "User:bob",
                  "TRAITFLOW_KAFKA_SASL_USERNAME"):  # fmt: skip
        assert words in line, line
