"""One profile per person: traits, built-ins, event state, memberships (pure, no Kafka)."""

from traitflow.profiles.profile import (
    Membership,
    Profile,
    apply_traits,
    join_import,
    observe,
)

__all__ = ["Membership", "Profile", "apply_traits", "join_import", "observe"]
