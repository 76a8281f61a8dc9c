"""The one settings object. Every value can come from a ``TRAITFLOW_*`` variable or a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from traitflow.exceptions import ConfigError

LOOPBACK = "127.0.0.1"
JUNK_IDS = ("null", "undefined", "none", "nil", "0", "-1", "anonymous", "unknown", "n/a")
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TraitRule = Literal["most_recent", "oldest", "non_empty"]  # how a merge picks a trait


PROFILES_TABLE = "profiles"  # the workers' Faust table of profiles (its changelog topic's name)
WORKER_TABLES = (PROFILES_TABLE, "schedule", "identities", "replays")  # each has a changelog


class Topics:
    """Topic names derived from the configured prefix."""

    def __init__(self, prefix: str) -> None:
        self.events = f"{prefix}-events"
        self.segments = f"{prefix}-segments"
        self.membership = f"{prefix}-membership"
        self.deadletter = f"{prefix}-deadletter"
        self.status = f"{prefix}-status"
        self.audit = f"{prefix}-audit"
        self.history = f"{prefix}-segments-history"
        self.suppressions = f"{prefix}-suppressions"
        self.sessions = f"{prefix}-sessions"  # console sessions signed out
        # Faust's, named after the worker's application id (``Settings.app_id``)
        self.changelogs = tuple(f"{prefix}-worker-{table}-changelog" for table in WORKER_TABLES)
        self.compacted = (self.segments, self.status, self.suppressions, self.sessions,
                          *self.changelogs)  # fmt: skip
        self.every = (self.events, self.segments, self.membership, self.deadletter, self.status,
                      self.audit, self.history, self.suppressions, self.sessions,
                      *self.changelogs)  # fmt: skip


class Settings(BaseSettings):
    """Configuration shared by the broker, worker and CLI tools."""

    model_config = SettingsConfigDict(env_prefix="TRAITFLOW_", extra="ignore")

    bootstrap_servers: str = Field(
        "", description="Kafka bootstrap servers (host:port,...); empty = the embedded broker."
    )
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        "PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL protocols)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password (instead of the variable)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle that signed the brokers' certificates (default: system)."
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="Client certificate (PEM) for brokers that require mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="Private key of the client cert.")
    embedded_port: int = Field(19092, description="Loopback port of the embedded broker.")
    topic_prefix: str = Field("traitflow", description="Prefix of every topic name.")
    partitions: int = Field(4, ge=1, description="Partitions of the events/membership topics.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of new topics.")
    data_dir: Path = Field(Path(".traitflow"), description="Where workers keep RocksDB state.")
    web_host: str = Field(LOOPBACK, description="Interface the worker web server binds to.")
    web_port: int = Field(6066, description="Port of the worker web server.")
    web_tls_certfile: Path | None = Field(
        None, description="Certificate (PEM) the worker's web port serves HTTPS with."
    )
    web_tls_keyfile: Path | None = Field(None, description="Private key of web_tls_certfile.")
    web_tls_cafile: Path | None = Field(
        None,
        description="CA (PEM) that signed the workers' web certificates, to verify them "
        "(default: web_tls_certfile itself, for one certificate shared by the workers).",
    )
    metrics_require_token: bool = Field(
        False,
        description="Serve a worker's /metrics only with the admin token (Prometheus: "
        "authorization: {credentials_file: ...}); off by default: it names segments, "
        "never people.",
    )
    http_max_connections: int = Field(
        1000, ge=1, description="Connections a worker's web port or the bridge holds at once."
    )
    http_header_timeout_s: float = Field(
        10.0, gt=0, description="Longest a client may take to send a request's headers."
    )
    http_keepalive_timeout_s: float = Field(
        15.0, gt=0, description="How long an idle keep-alive connection stays open."
    )
    web_advertised_url: str | None = Field(
        None,
        description="URL other workers use to reach this one's web server (admin requests "
        "are forwarded to the owner of the person); default http://WEB_HOST:WEB_PORT.",
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token of the admin API (default: made in DATA_DIR)."
    )
    admin_token_file: Path | None = Field(None, description="File holding the admin token.")
    admin_url: str | None = Field(
        None, description="Worker the CLI asks (default http://127.0.0.1:WEB_PORT)."
    )
    preview_max_profiles: int = Field(
        20_000,
        ge=1,
        description="Profiles a segment preview reads per worker; beyond, it reads the "
        "first of each partition and says which fraction.",
    )
    admin_max_live_feeds: int = Field(
        10,
        ge=1,
        description="Live membership feeds (console tabs) one worker serves at once, each "
        "with its own Kafka consumer; beyond, the feed answers 503.",
    )
    size_sample_s: float = Field(
        60.0, gt=0, description="Seconds between samples of segment sizes (console, gauge)."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per log line."
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    session_timeout_s: float = Field(
        10.0, gt=0, description="Consumer-group session timeout; a first join can wait half."
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        description="Warm copies of each partition's tables on other workers (Faust's "
        "standby replicas): a lost worker's partitions move without a rebuild.",
    )
    max_message_bytes: int = Field(
        32 * 1024, gt=0, description="Larger messages go to the dead-letter topic."
    )
    max_nesting_depth: int = Field(
        32, ge=2, le=200, description="Deepest nesting of objects and arrays in a message."
    )
    max_trait_bytes: int = Field(
        16 * 1024, gt=0, description="Largest value of one trait (encoded as JSON)."
    )
    max_profile_bytes: int = Field(
        256 * 1024,
        gt=0,
        description="Largest profile; a message that would grow one past it is dead-lettered "
        "and the profile is left as it was (keep it well under the topics' record limit).",
    )
    dedup_window_s: float = Field(
        24 * 3600.0,
        ge=0,
        description="How long a person's messageIds are remembered: a message repeating "
        "one is a retry, counted and never applied (0: no deduplication).",
    )
    profile_ttl_days: float | None = Field(
        None,
        gt=0,
        description="Delete profiles with no message for this many days (their members "
        "exit, cause expired); unset: kept for good.",
    )
    retention_sweep_s: float = Field(
        3600.0, gt=0, description="How often a worker looks for expired profiles."
    )
    dedup_max_ids: int = Field(
        1000, ge=1, description="Most messageIds remembered per person (the newest kept)."
    )
    deadletter_max_bytes: int = Field(
        512 * 1024,
        gt=0,
        description="A dead-letter copy larger than this is cut to this size; its headers "
        "keep the original size and SHA-256.",
    )
    stall_after_s: float = Field(
        60.0,
        gt=0,
        description="An owned partition with lag and nothing fetched for this long is "
        "stalled: /readyz says so and the worker rejoins its group.",
    )
    unset_marker: str = Field(
        "__null__", description="A trait value equal to this clears the stored trait."
    )
    tick_s: float = Field(
        1.0, gt=0, description="How often workers look for memberships that time has changed."
    )
    future_tolerance_s: float = Field(
        300.0, ge=0, description="Messages dated further ahead than this are dead-lettered."
    )
    batch_max_messages: int = Field(
        2000, ge=1, description="Most messages in one batch (a fetch may make several)."
    )
    replay_chunk_records: int = Field(
        2000,
        ge=1,
        description="Records of history a partition reads back per replay job "
        "(live messages wait at most one chunk).",
    )
    rocksdb_write_buffer_mb: int = Field(
        8,
        ge=1,
        description="Memtable of each RocksDB database (one per table partition); two may "
        "be held at once.",
    )
    rocksdb_block_cache_mb: int = Field(
        16, ge=1, description="Read cache of each RocksDB database (one per table partition)."
    )
    identity_traits: list[str] = Field(
        default_factory=lambda: ["email"],
        description="Traits that identify a person: two profiles with the same value merge.",
    )
    identity_junk_ids: list[str] = Field(
        default_factory=lambda: list(JUNK_IDS),
        description="Id values never used to link people (compared case-insensitively).",
    )
    identity_max_ids: int = Field(
        50, ge=2, description="Most ids one person may have; a merge beyond is refused."
    )
    identity_trait_rules: dict[str, TraitRule] = Field(
        default_factory=dict,
        description='Per trait, how a merge picks its value: "most_recent" (default), '
        '"oldest" or "non_empty".',
    )
    clock_file: Path | None = Field(
        None, description="Tests and demos: read the current time (epoch ms) from this file."
    )
    bridge_host: str = Field(LOOPBACK, description="Interface the HTTP bridge binds to.")
    bridge_port: int = Field(8088, description="Port of the HTTP bridge.")
    write_keys: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description='Bridge write keys as JSON, key -> source name ("" for none).',
    )
    write_keys_file: Path | None = Field(
        None, description="File of write keys, one `KEY [SOURCE]` per line (# comments)."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Shared secret of the Segment webhook destination (X-Signature)."
    )
    webhook_secret_file: Path | None = Field(
        None, description="File holding the webhook shared secret (instead of the variable)."
    )
    webhook_source: str = Field("webhook", description="Source name of webhook messages.")
    webhook_signature_scope: Literal["body", "first"] = Field(
        "body",
        description='What X-Signature must sign: "body", the whole raw body, or "first": '
        "also a batch's element 0 alone, as Segment signs (weaker: the rest of the batch is "
        "not covered).",
    )
    bridge_max_in_flight_requests: int = Field(
        256, ge=1, description="Requests the bridge holds at once; past it, 503 Retry-After."
    )
    bridge_max_in_flight_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1,
        description="Request body bytes the bridge holds at once; past it, 503 Retry-After.",
    )
    bridge_read_timeout_s: float = Field(
        30.0, gt=0, description="Longest a client may take to send a request body (then 408)."
    )
    bridge_max_request_bytes: int = Field(
        500 * 1024, gt=0, description="Largest /v1 request body, after gzip decoding."
    )
    bridge_max_batch: int = Field(2500, gt=0, description="Most messages in one /v1 batch.")
    webhook_max_request_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Largest /webhook request body (Actions batches)."
    )
    webhook_max_batch: int = Field(4000, gt=0, description="Most messages in one webhook batch.")
    bridge_ack_timeout_s: float = Field(
        10.0, gt=0, description="How long a request waits for Kafka before answering 503."
    )
    deliver_secret: SecretStr | None = Field(
        None, description="HMAC secret signing `traitflow deliver` posts (X-Signature)."
    )
    deliver_secret_file: Path | None = Field(
        None, description="File holding the delivery secret (instead of the variable)."
    )
    deliver_batch_size: int = Field(100, gt=0, description="Most events in one webhook post.")
    deliver_batch_wait_s: float = Field(
        0.5, gt=0, description="How long a partial batch waits for more events."
    )
    deliver_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook post.")
    deliver_give_up_after_s: float = Field(
        900.0, gt=0, description="Retry a failing batch this long, then dead-letter it."
    )
    deliver_max_backoff_s: float = Field(
        30.0, gt=0, description="Longest pause between two retries of a batch."
    )
    bridge_retry_after_s: int = Field(
        5, ge=1, description="Retry-After seconds sent with a 503 when Kafka is unreachable."
    )

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_sasl_username:
            raise ConfigError(
                f"TRAITFLOW_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "TRAITFLOW_KAFKA_SASL_USERNAME and a password (variable or file)"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when traitflow talks to its own embedded broker."""
        return not self.bootstrap_servers.strip()

    @property
    def kafka_bootstrap(self) -> str:
        """The bootstrap address actually used, embedded or configured."""
        if self.embedded:
            return f"{LOOPBACK}:{self.embedded_port}"
        return self.bootstrap_servers.strip()

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def app_id(self) -> str:
        """Faust application id: the consumer group and the changelog topic prefix."""
        return f"{self.topic_prefix}-worker"


def read_secret(value: SecretStr | None, path: Path | None, what: str) -> bytes | None:
    """A secret from its variable or, failing that, its file (never from a command line)."""
    if value is not None:
        return value.get_secret_value().encode()
    if path is not None:
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    return None
