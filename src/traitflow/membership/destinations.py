"""Where a segment's membership goes, and which profile traits travel with it.

A segment definition may name destinations. Each maps profile traits (dotted paths) to the
destination's own field names; the worker puts the mapped values, as of the transition, on
the membership event. What each kind of destination accepts is checked when the definition
is applied, not when an ad platform rejects a sync weeks later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from traitflow.exceptions import InvalidDefinition
from traitflow.profiles.profile import value_at

# Facebook Custom Audiences accept these keys only (and address.* fields).
FACEBOOK_FIELDS = frozenset(
    {
        "email",
        "phone",
        "firstName",
        "lastName",
        "gender",
        "birthYear",
        "birthMonth",
        "birthDay",
        "advertisingId",
    }
)
PHONE_FIELDS = frozenset({"phone", "phoneNumber", "phone_number", "mobile"})


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    kind: str
    format: str
    traits: tuple[tuple[tuple[str, ...], str], ...]  # (profile trait path, field name)

    def mapped(self, traits: dict[str, Any]) -> dict[str, Any]:
        """The mapped fields present on the profile (absent traits are left out)."""
        found: dict[str, Any] = {}
        for path, field in self.traits:
            value = value_at(traits, path)
            if value is not None:
                found[field] = value
        return found


def destinations_from_spec(specs: list[dict[str, Any]], where: str) -> tuple[Destination, ...]:
    """Build and check each destination; the error names the segment, destination and rule."""
    built = []
    for spec in specs:
        kind = spec.get("kind", "webhook")
        at = f"{where}: destination {spec['name']!r} ({kind})"
        if kind not in KINDS:
            raise InvalidDefinition(f"{at}: unknown kind; one of {', '.join(KINDS)}")
        mapping = tuple(
            (tuple(trait.split(".")), field) for trait, field in spec.get("traits", {}).items()
        )
        fields = [field for _, field in mapping]
        if len(set(fields)) != len(fields):
            raise InvalidDefinition(f"{at}: two traits map to the same field in {fields}")
        KINDS[kind].check(fields, at)
        default_format = KINDS[kind].default_format
        built.append(Destination(spec["name"], kind, spec.get("format", default_format), mapping))
    names = [d.name for d in built]
    if len(set(names)) != len(names):
        raise InvalidDefinition(f"{where}: destination names must be unique, got {names}")
    return tuple(built)


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of destination: the format it gets by default and what its fields must be
    (checked when a definition is applied)."""

    default_format: str
    check: Callable[[list[str], str], None]


def _any_fields(fields: list[str], at: str) -> None:
    """Webhooks and Segment take any field names."""


def _facebook(fields: list[str], at: str) -> None:
    refused = [f for f in fields if f not in FACEBOOK_FIELDS and not f.startswith("address.")]
    if refused:
        allowed = ", ".join(sorted(FACEBOOK_FIELDS)) + ", address.*"
        raise InvalidDefinition(f"{at}: fields {refused} are not accepted; only {allowed}")


def _zendesk(fields: list[str], at: str) -> None:
    missing = [f for f in ("firstName", "lastName") if f not in fields]
    if missing:
        raise InvalidDefinition(f"{at}: Zendesk requires {missing} to be mapped")


def _google(fields: list[str], at: str) -> None:
    if "email" not in fields:
        raise InvalidDefinition(f"{at}: Google requires a trait mapped to 'email'")
    phones = [f for f in fields if f in PHONE_FIELDS]
    if len(phones) > 1:
        raise InvalidDefinition(f"{at}: Google takes one phone mapping, got {phones}")


KINDS: dict[str, Kind] = {
    "webhook": Kind("traitflow", _any_fields),
    "segment": Kind("segment-identify", _any_fields),
    "facebook": Kind("segment-identify", _facebook),
    "zendesk": Kind("traitflow", _zendesk),
    "google": Kind("segment-identify", _google),
}  # the names a destination's ``kind`` may take (``schemas/segment.json`` agrees)
