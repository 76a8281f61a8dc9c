"""The deployment files, checked as far as a machine without Docker or a cluster allows:
schemas (Compose specification, Kubernetes OpenAPI, Grafana dashboard models), and that
they name only real settings, real metrics and consistent services."""

from __future__ import annotations

import json
import re
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client.core import Metric

from traitflow.bridge.metrics import BridgeMetrics
from traitflow.config import Settings
from traitflow.worker.metrics import StateCollector, StateReadings, WorkerMetrics

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def kubernetes_documents() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
    ]


def setting_names() -> set[str]:
    return {f"TRAITFLOW_{name.upper()}" for name in Settings.model_fields}


def test_compose_file_follows_the_compose_specification() -> None:
    # The schema check-jsonschema vendors, read without importing its CLI.
    vendored = "check_jsonschema/builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(
        Path(str(distribution("check-jsonschema").locate_file(vendored))).read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_compose_runs_kafka_two_stateful_workers_bridge_prometheus_grafana() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft
    workers = [name for name, service in services.items() if service.get("command") == ["worker"]]
    assert len(workers) == 2
    volumes = {services[w]["volumes"][0] for w in workers}
    assert {v.split(":")[1] for v in volumes} == {"/var/lib/traitflow"} and len(volumes) == 2
    urls = {services[w]["environment"]["TRAITFLOW_WEB_ADVERTISED_URL"] for w in workers}
    assert urls == {f"http://{w}:6066" for w in workers}
    scraped = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {
        t for job in scraped["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {f"{w}:6066" for w in workers} | {"bridge:8088"}
    assert {"prometheus", "grafana", "bridge"} <= set(services)


def test_compose_and_kubernetes_name_only_real_settings() -> None:
    named = set()
    for service in compose()["services"].values():
        named |= {key for key in service.get("environment", {}) if key.startswith("TRAITFLOW_")}
    for document in kubernetes_documents():
        if document["kind"] == "ConfigMap":
            named |= set(document["data"])
        for container in _containers(document):
            named |= {
                e["name"] for e in container.get("env", []) if e["name"].startswith("TRAITFLOW_")
            }
    assert named, "no settings found"
    assert named <= setting_names(), named - setting_names()


def test_secrets_reach_containers_as_files_never_as_arguments() -> None:
    for service in compose()["services"].values():
        for key in service.get("environment", {}):
            assert not re.search(r"(PASSWORD|TOKEN|SECRET|WRITE_KEYS)$", key), key
        assert not any("secret" in str(arg).lower() for arg in service.get("command", []))
    for document in kubernetes_documents():
        for container in _containers(document):
            assert all("secret" not in arg for arg in container.get("args", []))


@pytest.mark.parametrize(
    "document", kubernetes_documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_kubernetes_manifests_validate(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_workers_are_a_statefulset_with_volumes_and_probes() -> None:
    [workers] = [d for d in kubernetes_documents() if d["kind"] == "StatefulSet"]
    assert workers["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    [container] = _containers(workers)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == "/var/lib/traitflow"
    [bridge] = [d for d in kubernetes_documents() if d["kind"] == "Deployment"]
    assert _containers(bridge)[0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    kustomized = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    listed = set(kustomized["resources"])
    on_disk = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_the_image_is_multi_stage_and_runs_as_a_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2
    [user] = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert not user.startswith(("root", "0:", "0"))


def test_the_dashboard_loads_as_grafana_json_and_plots_real_metrics() -> None:
    register_default_plugins()
    raw = json.loads((DEPLOY / "grafana/dashboards/traitflow.json").read_text())
    dashboard = Dashboard.from_json(raw)
    assert (dashboard.uid, dashboard.title) == ("traitflow", "traitflow")
    panels = dashboard.panels or []
    titles = " ".join(str(p.title).lower() for p in panels)
    for topic in ("throughput", "lag", "latency", "transitions"):
        assert topic in titles
    exposed = exposed_metric_names()
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    for panel in panels:
        assert isinstance(panel.options, timeseries.Options)
        assert panel.datasource is not None
        assert panel.datasource.uid == provisioned["datasources"][0]["uid"]
        for target in panel.targets or []:
            assert isinstance(target, prometheus.Dataquery)
            used = set(re.findall(r"traitflow_[a-z_]+", str(target.expr)))
            assert used and used <= exposed, used - exposed


def exposed_metric_names() -> set[str]:
    """Sample names the worker and the bridge expose (counters end in ``_total``...)."""
    readings = StateReadings(
        lambda: [0], lambda p: 0, lambda p: 0, lambda p: (0, 0.0), lambda: 0, lambda: {}
    )
    families: list[Metric] = [
        *WorkerMetrics().registry.collect(),
        *StateCollector(readings).collect(),
        *BridgeMetrics().registry.collect(),
    ]
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    return {f.name + suffix for f in families for suffix in suffixes[f.type]}


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    template = document.get("spec", {}).get("template", {})
    containers: list[dict[str, Any]] = template.get("spec", {}).get("containers", [])
    return containers
