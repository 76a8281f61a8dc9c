"""The worker's storage, in three layers, each replaceable on its own:

- ``partitions``: a table's storage, one part per events partition (``Partitions``):
  Faust's RocksDB store read and written directly (``RocksDBPartitions``), or one dict
  (``MemoryPartitions``: Faust's memory store in agent tests, dicts in unit tests).
- ``held``: writes held back until the batch that made them is acknowledged
  (``WriteBehind``, layers that go open -> sealed -> written, in order).
- ``profiles``: what the worker keeps, in those terms (``ProfileStore``): profiles, the
  schedule of due instants, identity pointers, replay progress.
"""
