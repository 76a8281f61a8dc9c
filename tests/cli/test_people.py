"""A profile document shown as a person reads it."""

from __future__ import annotations

from rich.console import Console

from traitflow.cli.people import person_view

DOCUMENT = {
    "person": "ada",
    "kind": "user",
    "identities": ["anon-7", "email:ada@example.com"],
    "first_seen_ms": 1_795_420_800_000,
    "last_seen_ms": 1_795_424_400_000,
    "traits": {"plan": "trial", "seats": 3},
    "trait_times": {"plan": 1_795_420_800_000},
    "derived": {"$first_seen": "x", "$country": "FR"},
    "features": {"9f86d081884c7d65": [1_795_424_400_000]},
    "memberships": {
        "trial": {"member": True, "version": 1, "since_ms": 1_795_420_800_000},
        "paid": {"member": False, "version": 2, "since_ms": 1_795_424_400_000},
    },
    "computed": {"spend_30d": 110},
    "activity": [
        {"event": "Pricing", "types": ["page"], "count": 1, "within_ms": 604_800_000,
         "recent": ["2026-11-23T09:00:00.000Z"]}
    ],
    "applied_position": 42,
}  # fmt: skip


def shown(document: dict[str, object]) -> str:
    console = Console(width=120, record=True)
    console.print(person_view(document))
    return console.export_text()


def test_a_person_is_shown_without_internals() -> None:
    text = shown(DOCUMENT)
    lines = [line.split() for line in text.splitlines()]
    assert text.startswith("ada  (user)")
    assert "also known as: anon-7, email:ada@example.com" in text
    assert "first seen 2026-11-23T08:00:00.000Z, last seen 2026-11-23T09:00:00.000Z" in text
    assert ["plan", "trial", "2026-11-23T08:00:00.000Z"] in lines
    assert ["seats", "3"] in lines
    assert ["$country", "FR", "(from", "context)"] in lines
    assert ["spend_30d", "110"] in lines
    assert ["trial", "member", "2026-11-23T08:00:00.000Z", "v1"] in lines
    assert ["paid", "not", "a", "member", "2026-11-23T09:00:00.000Z", "v2"] in lines
    assert ["page", "Pricing", "1", "last", "7", "days", "2026-11-23T09:00:00.000Z"] in lines
    for internal in ("9f86d081884c7d65", "applied_position", "1795420800000", "$first_seen"):
        assert internal not in text


def test_an_empty_person_says_so() -> None:
    text = shown({"person": "zoe", "traits": {}, "memberships": {}, "computed": {}})
    assert "no traits" in text and "in no segment" in text
    assert "no events counted by live segments" in text
