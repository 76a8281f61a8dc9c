"""One profile per person: traits, identities, memberships (pure, no Kafka)."""

from traitflow.profiles.profile import Membership, Profile, apply_traits

__all__ = ["Membership", "Profile", "apply_traits"]
