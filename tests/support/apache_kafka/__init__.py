"""Apache Kafka's own broker, on loopback with free ports, for ``make test-kafka`` and the
tests that need a real cluster (failures, SASL and TLS, retention).

The broker comes from Maven Central: ``pom.xml`` next to this file names it, and
``mvn dependency:copy-dependencies`` copies it with its dependencies into a cache folder
outside git (``~/.cache/traitflow/kafka-<version>``, or ``$TRAITFLOW_CACHE``). Nodes run in
KRaft combined mode (controller and broker in one process), alone or three together.

    python -m tests.support.apache_kafka fetch              # the broker into the cache
    python -m tests.support.apache_kafka run -- pytest ...  # one node, KAFKA_BOOTSTRAP set
    python -m tests.support.apache_kafka run --nodes 3 -- ...  # a three-node cluster
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
KAFKA_VERSION = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text()).group(1)  # type: ignore[union-attr]
HOW_TO_GET = (
    "the real-Kafka tests need Java 17+ and Maven (Debian: apt-get install "
    "openjdk-17-jre-headless maven); they fetch Apache Kafka from Maven Central"
)


def cache_dir() -> Path:
    root = Path(os.environ.get("TRAITFLOW_CACHE", Path.home() / ".cache" / "traitflow"))
    return root / f"kafka-{KAFKA_VERSION}"


def missing_tools() -> str | None:
    """None when Java and Maven are here (or the broker is already cached), else the line
    that says how to get them."""
    if shutil.which("java") is None:
        return HOW_TO_GET
    if shutil.which("mvn") is None and not (cache_dir() / "lib" / ".complete").exists():
        return HOW_TO_GET
    return None


def fetch() -> Path:
    """The broker's jars, fetched once with Maven into the cache."""
    lib = cache_dir() / "lib"
    done = lib / ".complete"
    fingerprint = hashlib.sha256(POM.read_bytes()).hexdigest()
    if done.exists() and done.read_text() == fingerprint:
        return lib
    problem = missing_tools()
    if problem:
        raise RuntimeError(problem)
    print(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {lib}", file=sys.stderr)
    result = subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}", "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"mvn could not fetch Apache Kafka:\n{result.stdout}{result.stderr}")
    done.write_text(fingerprint)
    return lib


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


LOG4J2 = """\
Configuration:
  Appenders:
    File:
      name: file
      fileName: "${sys:kafka.logs.dir}/server.log"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
"""


@dataclass
class Node:
    """One KRaft node: controller and broker in one JVM."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    listeners: dict[str, int] = field(default_factory=dict)  # extra listener name -> port
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, lib: Path) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        java = [
            "java", "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            "-cp", f"{lib}/*", "kafka.Kafka", str(self.home / "server.properties"),
        ]  # fmt: skip
        out = (self.home / "logs" / "stdout.log").open("ab")
        self.process = subprocess.Popen(java, stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def kill(self) -> None:
        """kill -9: no controlled shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM: a controlled shutdown, leadership handed over first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


class KafkaCluster:
    """``size`` KRaft nodes on loopback; ``bootstrap`` names them all.

    ``properties`` are added to every node's server.properties; ``listeners`` maps extra
    listener names (``SASL_SSL``, ``SSL``...) to their security protocol, each given a free
    port per node (``node.listeners``), for the tests of production connections."""

    def __init__(
        self,
        size: int = 1,
        *,
        home: Path | None = None,
        properties: Mapping[str, str] | None = None,
        listeners: Mapping[str, str] | None = None,
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        self.size = size
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="traitflow-kafka-"))
        self.properties = dict(properties or {})
        self.extra_listeners = dict(listeners or {})
        self.scram_users = dict(scram_users or {})  # name -> password, SCRAM-SHA-512
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        self.nodes = [
            Node(
                node_id=i + 1,
                port=free_port(),
                controller_port=free_port(),
                home=self.home / f"node{i + 1}",
                listeners={name: free_port() for name in self.extra_listeners},
            )
            for i in range(size)
        ]
        self.lib: Path | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def node(self, node_id: int) -> Node:
        [found] = [node for node in self.nodes if node.node_id == node_id]
        return found

    def restart(self, nodes: list[Node] | None = None, timeout_s: float = 120.0) -> None:
        """SIGTERM (a controlled shutdown), then start again on the same data; returns
        once every node answers again."""
        assert self.lib is not None
        chosen = self.nodes if nodes is None else nodes
        for node in chosen:
            node.stop()
        for node in chosen:
            node.start(self.lib)
        self.wait_ready(timeout_s)

    def bootstrap_for(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{node.listeners[listener]}" for node in self.nodes)

    def _server_properties(self, node: Node) -> str:
        replicas = min(self.size, 3)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        listeners = [f"PLAINTEXT://127.0.0.1:{node.port}"] + [
            f"{name}://127.0.0.1:{port}" for name, port in node.listeners.items()
        ]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"] + [
            f"{name}:{protocol}" for name, protocol in self.extra_listeners.items()
        ]
        values = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{node.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(node.home / "data"),
            "num.partitions": "1",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(max(1, replicas - 1)),
            "offsets.topic.replication.factor": str(replicas),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(max(1, replicas - 1)),
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": str(max(1, replicas - 1)),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.segment.bytes": str(16 * 1024 * 1024),
            "log.retention.check.interval.ms": "5000",
            "controlled.shutdown.enable": "true",
            **self.properties,
        }
        return "".join(f"{key}={value}\n" for key, value in values.items())

    def _format(self, node: Node, lib: Path) -> None:
        node.home.mkdir(parents=True, exist_ok=True)
        (node.home / "server.properties").write_text(self._server_properties(node))
        (node.home / "log4j2.yaml").write_text(LOG4J2)
        result = subprocess.run(
            [
                "java", "-Xmx256m", "-cp", f"{lib}/*",
                f"-Dlog4j2.configurationFile={node.home / 'log4j2.yaml'}",
                f"-Dkafka.logs.dir={node.home / 'logs'}",
                "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "-t", self.cluster_id, "-c", str(node.home / "server.properties"),
                *(part for name, password in self.scram_users.items() for part in (
                    "--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout_s: float = 120.0) -> KafkaCluster:
        self.lib = fetch()
        for node in self.nodes:
            self._format(node, self.lib)
        for node in self.nodes:
            node.start(self.lib)
        self.wait_ready(timeout_s)
        return self

    def start_node(self, node: Node, timeout_s: float = 120.0) -> None:
        assert self.lib is not None
        node.start(self.lib)
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until every running node answers as a broker that sees all the others."""
        deadline = time.monotonic() + timeout_s
        expected = {node.node_id for node in self.nodes if node.running}
        while True:
            for node in self.nodes:
                if (
                    node.process is not None
                    and node.process.poll() is not None
                    and node.node_id in expected
                ):
                    raise RuntimeError(f"Kafka node {node.node_id} exited:\n{self.tail(node)}")
            if self._sees(expected):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Kafka did not become ready in {timeout_s:.0f} s:\n{self.tail(self.nodes[0])}"
                )
            time.sleep(0.5)

    def _sees(self, expected: set[int]) -> bool:
        import asyncio
        import logging

        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals while starting

        from aiokafka.admin import AIOKafkaAdminClient

        async def brokers(node: Node) -> set[int]:
            client = AIOKafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{node.port}", request_timeout_ms=3000
            )
            try:
                await client.start()
                cluster = await client.describe_cluster()
                return {int(b["node_id"]) for b in cluster["brokers"]}
            finally:
                await client.close()

        for node in self.nodes:
            if node.node_id not in expected:
                continue
            try:
                if asyncio.run(brokers(node)) != expected:
                    return False
            except Exception:
                return False
        return True

    def acls(self, *args: str) -> str:
        """``kafka-acls`` against the first node's PLAINTEXT listener (ANONYMOUS there is
        the super user the secured tests configure)."""
        assert self.lib is not None
        result = subprocess.run(
            ["java", "-Xmx256m", "-cp", f"{self.lib}/*", "org.apache.kafka.tools.AclCommand",
             "--bootstrap-server", f"127.0.0.1:{self.nodes[0].port}", *args],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"kafka-acls {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def tail(self, node: Node, lines: int = 40) -> str:
        text = ""
        for log in (node.home / "logs" / "stdout.log", node.log):
            if log.exists():
                text += "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def running(size: int = 1, **options: object) -> Iterator[KafkaCluster]:
    with KafkaCluster(size, **options) as cluster:  # type: ignore[arg-type]
        yield cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.apache_kafka", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="copy Apache Kafka from Maven Central into the cache")
    run = commands.add_parser(
        "run", help="start Kafka, run CMD with KAFKA_BOOTSTRAP set, stop Kafka"
    )
    run.add_argument("--nodes", type=int, default=1, choices=(1, 3))
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(fetch())
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("run needs a command after --")
    started = time.monotonic()
    with running(args.nodes) as cluster:
        print(
            f"Apache Kafka {KAFKA_VERSION}: {args.nodes} node(s) at {cluster.bootstrap}, "
            f"ready in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": cluster.bootstrap,
            "TRAITFLOW_TEST_REPLICAS": str(min(args.nodes, 3)),
        }
        return subprocess.call(cmd, env=env)
