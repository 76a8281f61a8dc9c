"""Which ids a message names, which are junk, and which id of two people survives a merge.

Ids have a kind: ``user`` (a userId), ``anonymous`` (an anonymousId, or alias's
previousId, which may be either) or ``trait`` (a configured identifying trait such as
email, stored as ``email:<value>``). An id's kind is the highest it was ever named with,
so a previousId that is also some message's userId counts as a user.

The surviving id of a merge depends only on the two ids: a higher kind wins, then the
smaller string. So the canonical id of a person is its best id, whatever the order in
which links arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from traitflow.config import JUNK_IDS
from traitflow.ingest.messages import Message, identify_traits, usable_id

USER, ANONYMOUS, TRAIT = "user", "anonymous", "trait"
RANKS = {USER: 2, ANONYMOUS: 1, TRAIT: 0}
DEFAULT_JUNK = JUNK_IDS


@dataclass(frozen=True, slots=True)
class Identifier:
    value: str
    kind: str

    def outranks(self, other: Identifier) -> bool:
        """True when ``self`` survives a merge with ``other``."""
        mine, theirs = RANKS[self.kind], RANKS[other.kind]
        return mine > theirs or (mine == theirs and self.value < other.value)


def stronger(kind: str, than: str) -> bool:
    return RANKS[kind] > RANKS[than]


@dataclass(frozen=True, slots=True)
class Pointer:
    """An ``identities`` entry: the id now resolves to ``to``; ``kind`` is what the id
    itself was known as when pointed (a later, stronger kind may make it the survivor);
    ``since``: the events-topic position of the record that pointed it (-1: unknown), so a
    replay of history can tell a message applied here before from one forwarded after."""

    to: Identifier
    kind: str
    since: int = -1


class JunkFilter:
    """Ids that real traffic sends by mistake ("null", "undefined", ...): never linked."""

    def __init__(self, junk: Iterable[str] = DEFAULT_JUNK) -> None:
        self.junk = {value.strip().lower() for value in junk}

    def usable(self, value: Any) -> bool:
        return usable_id(value, self.junk)


def message_identifiers(
    message: Message, identity_traits: Iterable[str], junk: JunkFilter
) -> list[Identifier]:
    """Every usable id the message says belongs to its person, best first."""
    found: list[Identifier] = []
    body = message.body
    for field, kind in (("userId", USER), ("anonymousId", ANONYMOUS), ("previousId", ANONYMOUS)):
        value = body.get(field)
        if (field != "previousId" or message.type == "alias") and junk.usable(value):
            found.append(Identifier(stored_id(value), kind))
    if message.type == "identify":
        traits = identify_traits(body)
        for name in identity_traits:
            value = traits.get(name)
            if junk.usable(value):
                found.append(Identifier(trait_id(name, str(value)), TRAIT))
    if len(found) < 2:
        return found  # most messages: one id
    unique = {identifier.value: identifier for identifier in reversed(found)}  # best kind
    return sorted(unique.values(), key=lambda i: (-RANKS[i.kind], i.value))


def stored_id(value: object) -> str:
    """An id as the worker stores, routes and suppresses it: its text, stripped. The one
    normalisation every reader of ids uses (``trait_id`` for identifying traits)."""
    return str(value).strip()


def trait_id(name: str, value: str) -> str:
    """Identifying traits compare case-insensitively (``Ada@X.com`` is ``ada@x.com``)."""
    return f"{name}:{stored_id(value).lower()}"


def routing_identifier(message: Message, junk: JunkFilter) -> Identifier | None:
    """The id a message is keyed by: its userId, else its anonymousId (junk skipped)."""
    for field, kind in (("userId", USER), ("anonymousId", ANONYMOUS)):
        value = message.body.get(field)
        if junk.usable(value):
            return Identifier(stored_id(value), kind)
    return None
