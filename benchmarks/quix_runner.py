"""Quix Streams, the peer a user would pick instead, doing the same per-person job:
one RocksDB state read and write per event (state changelogged), over the benchmark topic.

``python benchmarks/quix_runner.py BOOTSTRAP TOPIC N RESULT_FILE STATE_DIR``. Timing
starts at the first event processed, as in ``faust_runner.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
from quixstreams import Application, State
from quixstreams.models.topics.manager import TopicManager


def _tolerate_missing_retention() -> None:
    """The embedded broker's DescribeConfigs omits ``retention.ms``, which Quix Streams
    reads to size the changelog topic: take Kafka's default (7 days) when it is absent."""
    derive = TopicManager.derive_topic_config

    def derive_topic_config(topics: Any) -> Any:
        for topic in topics:
            topic.broker_config.extra_config.setdefault("retention.ms", "604800000")
        return derive(topics)

    TopicManager.derive_topic_config = staticmethod(derive_topic_config)  # type: ignore[method-assign]


def main() -> None:
    _tolerate_missing_retention()
    bootstrap, topic_name, total, result, state_dir = sys.argv[1:6]
    wanted = int(total)
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"{topic_name}-quix",
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(topic_name, value_deserializer="json", key_deserializer="bytes")
    clock = {"count": 0, "started": 0.0}

    def remember(value: dict[str, Any], state: State) -> None:
        """The profile of the message's person: its traits merged, its events counted."""
        if not clock["started"]:
            clock["started"] = time.perf_counter()
        profile = state.get("profile", {"events": 0})
        profile.update(value.get("traits") or {})
        profile["events"] += 1
        state.set("profile", profile)
        clock["count"] += 1
        if clock["count"] == wanted:
            elapsed = time.perf_counter() - clock["started"]
            Path(result).write_bytes(orjson.dumps({"events": wanted, "seconds": elapsed}))
            app.stop()

    app.dataframe(topic).update(remember, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
