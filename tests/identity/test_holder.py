"""Reading history back: which profile holds what a logged message changed."""

from __future__ import annotations

from tests.identity.test_resolver_model import Partition
from traitflow.identity.ids import ANONYMOUS, USER, Identifier, Pointer
from traitflow.identity.resolver import IdentityRules, Resolver
from traitflow.ingest.messages import Message
from traitflow.segments import Registry

ADA = Identifier("ada", USER)


def page(**ids: str) -> Message:
    body = {"type": "page", "name": "Pricing", **ids}
    return Message("page", "m1", ids.get("userId"), ids.get("anonymousId"), 0, body)


def resolver(identities: dict[str, Pointer]) -> Resolver:
    return Resolver(Partition(identities=identities), Registry(), IdentityRules())


def test_an_id_of_its_own_holds_its_messages() -> None:
    assert resolver({}).holder_of("ada", None, page(userId="ada"), 10) == "ada"


def test_a_merged_id_held_its_messages_until_the_merge_and_forwarded_them_after() -> None:
    merged = resolver({"anon-1": Pointer(ADA, ANONYMOUS, since=100)})
    message = page(anonymousId="anon-1")
    assert merged.holder_of("anon-1", None, message, 99) == "ada"  # applied, then shipped
    assert merged.holder_of("anon-1", None, message, 100) is None  # forwarded: its copy counts
    legacy = resolver({"anon-1": Pointer(ADA, ANONYMOUS)})  # written before positions
    assert legacy.holder_of("anon-1", None, message, 10**9) == "ada"


def test_a_forwarded_copy_belongs_to_the_id_it_is_keyed_by() -> None:
    copy = page(anonymousId="anon-1", userId="ada")
    assert resolver({}).holder_of("ada", USER, copy, 5) == "ada"


def test_a_record_keyed_by_another_id_was_forwarded_not_applied() -> None:
    assert (
        resolver({}).holder_of("anon-1", None, page(userId="ada", anonymousId="anon-1"), 5) is None
    )
    assert resolver({}).holder_of("null", None, page(userId="null"), 5) is None
