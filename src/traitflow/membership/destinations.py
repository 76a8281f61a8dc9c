"""Where a segment's membership goes, and which profile traits travel with it.

A segment definition may name destinations. Each maps profile traits (dotted paths) to the
destination's own field names; the worker puts the mapped values, as of the transition, on
the membership event. What each kind of destination accepts is checked when the definition
is applied, not when an ad platform rejects a sync weeks later.
"""

from __future__ import annotations

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
        mapping = tuple(
            (tuple(trait.split(".")), field) for trait, field in spec.get("traits", {}).items()
        )
        fields = [field for _, field in mapping]
        _check_fields(kind, fields, at)
        default_format = (
            "segment-identify" if kind in ("segment", "facebook", "google") else ("traitflow")
        )
        built.append(Destination(spec["name"], kind, spec.get("format", default_format), mapping))
    names = [d.name for d in built]
    if len(set(names)) != len(names):
        raise InvalidDefinition(f"{where}: destination names must be unique, got {names}")
    return tuple(built)


def _check_fields(kind: str, fields: list[str], at: str) -> None:
    if len(set(fields)) != len(fields):
        raise InvalidDefinition(f"{at}: two traits map to the same field in {fields}")
    if kind == "facebook":
        refused = [f for f in fields if f not in FACEBOOK_FIELDS and not f.startswith("address.")]
        if refused:
            allowed = ", ".join(sorted(FACEBOOK_FIELDS)) + ", address.*"
            raise InvalidDefinition(f"{at}: fields {refused} are not accepted; only {allowed}")
    elif kind == "zendesk":
        missing = [f for f in ("firstName", "lastName") if f not in fields]
        if missing:
            raise InvalidDefinition(f"{at}: Zendesk requires {missing} to be mapped")
    elif kind == "google":
        if "email" not in fields:
            raise InvalidDefinition(f"{at}: Google requires a trait mapped to 'email'")
        phones = [f for f in fields if f in PHONE_FIELDS]
        if len(phones) > 1:
            raise InvalidDefinition(f"{at}: Google takes one phone mapping, got {phones}")
