"""Sync metrics: files and rows by outcome, and when the source last delivered a file, so
an alert can fire when the daily file did not arrive (``time() - last_success > 26h``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client import write_to_textfile as write_textfile

from traitflow.sync.run import FileOutcome


class SyncMetrics:
    def __init__(self, source: str, imported: list[dict[str, Any]]) -> None:
        self.source = source
        self.registry = CollectorRegistry()
        self.files = Counter(
            "traitflow_sync_files", "Files a sync read, by outcome (imported or failed).",
            ["source", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.rows = Counter(
            "traitflow_sync_rows",
            "Rows of synced files: published, unchanged (skipped), rejected, absent (unset).",
            ["source", "result"], registry=self.registry,
        )  # fmt: skip
        self.last_success = Gauge(
            "traitflow_sync_last_success_timestamp_seconds",
            "When a file of the source was last imported completely.",
            ["source"], registry=self.registry,
        )  # fmt: skip
        self.last_round = Gauge(
            "traitflow_sync_last_round_timestamp_seconds",
            "When the source was last looked at for new files.",
            ["source"], registry=self.registry,
        )  # fmt: skip
        finished = [entry["finished_ms"] for entry in imported]
        if finished:
            self.last_success.labels(source).set(max(finished) / 1000)

    def observe(self, outcome: FileOutcome) -> None:
        report = outcome.report
        if report is not None:
            counts = {"published": report.imported, "unchanged": report.unchanged,
                      "rejected": report.rejected, "absent": outcome.absent}  # fmt: skip
            for result, count in counts.items():
                self.rows.labels(self.source, result).inc(count)
        self.files.labels(self.source, "imported" if outcome.done else "failed").inc()
        if outcome.done:
            self.last_success.labels(self.source).set_to_current_time()

    def round_finished(self) -> None:
        self.last_round.labels(self.source).set_to_current_time()

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def write(self, path: Path) -> None:
        """For cron: Prometheus node exporter's textfile collector reads this file."""
        write_textfile(str(path), self.registry)
