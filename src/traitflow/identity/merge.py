"""Two profiles of one person becoming one.

History-derived state is united: counters add, windowed timestamps and aggregate buckets
combine, first/last take the earlier/later, sets unite. Traits follow a rule per trait:

- ``most_recent`` (default): the value set at the later event time;
- ``oldest``: the value set at the earlier event time;
- ``non_empty``: the surviving profile's value, the absorbed one's only where it has none.

Memberships stay the survivor's here; ``reconcile`` decides them again afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping

from traitflow.profiles import Profile
from traitflow.segments import Registry


def merge_profiles(
    survivor: Profile, absorbed: Profile, registry: Registry, rules: Mapping[str, str]
) -> Profile:
    """A new profile holding both; neither argument is changed."""
    merged = Profile.from_bytes(survivor.to_bytes())
    _merge_traits(merged, absorbed, rules)
    _merge_features(merged, absorbed, registry)
    if absorbed.first_seen_ms and (
        not merged.first_seen_ms or absorbed.first_seen_ms < merged.first_seen_ms
    ):
        merged.first_seen_ms = absorbed.first_seen_ms
    if absorbed.last_seen_ms > merged.last_seen_ms:
        merged.derived.update({k: v for k, v in absorbed.derived.items() if k != "$first_seen"})
        merged.last_seen_ms = absorbed.last_seen_ms
    if "$first_seen" in absorbed.derived and merged.first_seen_ms == absorbed.first_seen_ms:
        merged.derived["$first_seen"] = absorbed.derived["$first_seen"]
    merged.user_id = merged.user_id or absorbed.user_id
    merged.anonymous_id = merged.anonymous_id or absorbed.anonymous_id
    merged.imports = sorted(set(merged.imports) | set(absorbed.imports))
    others = {absorbed.person, *absorbed.identities} - {merged.person}
    merged.identities = sorted(set(merged.identities) | others)
    merged.absorbed = sorted({*merged.absorbed, *absorbed.absorbed, absorbed.person})
    for replay, position in absorbed.replayed.items():
        merged.replayed[replay] = max(position, merged.replayed.get(replay, -1))
    return merged


def _merge_traits(merged: Profile, absorbed: Profile, rules: Mapping[str, str]) -> None:
    for name, value in absorbed.traits.items():
        at = absorbed.trait_times.get(name, 0)
        mine = merged.trait_times.get(name)
        rule = rules.get(name, "most_recent")
        if name not in merged.traits or mine is None:
            take = True
        elif rule == "most_recent":
            take = at > mine
        elif rule == "oldest":
            take = at < mine
        else:
            take = False
        if take:
            merged.traits[name] = value
            merged.trait_times[name] = at
    for name, at in absorbed.trait_times.items():  # an unset (time, no value) still counts
        if name not in absorbed.traits and name not in merged.traits:
            merged.trait_times[name] = max(at, merged.trait_times.get(name, at))


def _merge_features(merged: Profile, absorbed: Profile, registry: Registry) -> None:
    for feature_id, state in absorbed.features.items():
        feature = registry.feature(feature_id)
        if feature is None:  # no live definition reads it any more
            continue
        merged.features[feature_id] = feature.merge(merged.features.get(feature_id), state)
