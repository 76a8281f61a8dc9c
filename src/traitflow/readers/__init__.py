"""Reading traitflow's topics back (adapters, Kafka clients): a segment's members from the
profiles' changelog, one profile, the membership topic followed live. The CLI, the tools
and the tests use them; the pure packages (``profiles``, ``membership``, ``segments``)
never do."""
