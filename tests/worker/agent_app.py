"""The worker for agent tests: memory tables, channels instead of topics, no feeds,
services or web server; Faust's ``test_context()`` hands records to the agent."""

from __future__ import annotations

from typing import Any

import faust

from traitflow.clock import Clock, clock_for
from traitflow.config import Settings
from traitflow.worker.app import TABLES, Parts, WorkerApp, app_config, build_worker
from traitflow.worker.sinks import Sinks
from traitflow.worker.store.profiles import ProfileStore


def agent_app(settings: Settings, clock: Clock | None = None) -> WorkerApp:
    app = faust.App(settings.app_id, **{**app_config(settings), "store": "memory://",
                                        "web_enabled": False})  # fmt: skip
    store = ProfileStore(*(_table(app, settings, name) for name in TABLES))

    def channels(published: Any, removed: Any) -> Sinks:
        return Sinks(*(app.channel() for _ in range(6)))

    return build_worker(
        settings, Parts(app, store, channels), clock or clock_for(settings.clock_file)
    )


def _table(app: faust.App, settings: Settings, name: str) -> Any:
    return app.Table(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)
