"""The definitions as kept on Kafka (the adapter side of ``traitflow.segments``, which is
pure): publishing and reading the compacted segments topic, asking workers to backfill,
and the history topic of every change."""
