"""The ``traitflow`` command line."""
