"""traitflow: a real-time audience engine on Kafka.

Segment-spec messages come in on a Kafka topic; Faust workers keep one profile per person
in RocksDB and publish ``audience.entered`` / ``audience.exited`` events as segment
membership changes.
"""

from traitflow.config import Settings
from traitflow.exceptions import TraitflowError

__all__ = ["Settings", "TraitflowError", "__version__"]

__version__ = "0.1.0"
