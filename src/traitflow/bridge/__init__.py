"""The HTTP bridge: Segment's Tracking API and webhook destination, in front of Kafka.

``intake`` turns request bodies into Kafka records (pure), ``auth`` knows write keys and
webhook signatures (pure), ``publisher`` waits for Kafka's acknowledgements, ``server`` is
the thin aiohttp layer, ``openapi`` describes it.
"""
