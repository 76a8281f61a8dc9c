"""What the tests share: message factories, Kafka and web helpers, the known-transitions
traffic, waiting, the OpenAPI conformance run, and Apache Kafka on demand."""
