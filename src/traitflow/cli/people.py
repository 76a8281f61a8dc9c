"""A profile document as a person reads it: who, what we know, where they belong, what
they did (as far as live segments count it). ``--json`` shows the document itself."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from traitflow.timeutil import iso_from_ms

HIDDEN_TRAITS = ("$first_seen", "$last_seen")  # shown in the heading


def person_view(document: dict[str, Any]) -> Group:
    return Group(
        _heading(document),
        _traits(document),
        _computed(document),
        _segments(document),
        _activity(document),
    )


def _heading(document: dict[str, Any]) -> Text:
    text = Text(str(document["person"]), style="bold")
    text.append(f"  ({document.get('kind', 'user')})")
    if document.get("requested"):
        text.append(f"  asked as {document['requested']}")
    others = document.get("identities") or []
    if others:
        text.append(f"\nalso known as: {', '.join(others)}")
    seen = [(name, document.get(f"{name}_seen_ms") or 0) for name in ("first", "last")]
    if all(at for _, at in seen):
        text.append("\n" + ", ".join(f"{name} seen {iso_from_ms(at)}" for name, at in seen))
    return text


def _traits(document: dict[str, Any]) -> Table | Text:
    traits = document.get("traits") or {}
    derived = {k: v for k, v in (document.get("derived") or {}).items() if k not in HIDDEN_TRAITS}
    if not traits and not derived:
        return Text("\nno traits")
    times = document.get("trait_times") or {}
    table = _table("traits", "value", "set at")
    for name, value in sorted(traits.items()):
        at = times.get(name)
        table.add_row(name, _shown(value), iso_from_ms(at) if at else "")
    for name, value in sorted(derived.items()):
        table.add_row(name, _shown(value), "(from context)")
    return table


def _computed(document: dict[str, Any]) -> Table | Text:
    computed = document.get("computed") or {}
    if not computed:
        return Text("")
    table = _table("computed traits", "value now")
    for name, value in sorted(computed.items()):
        table.add_row(name, _shown(value))
    return table


def _segments(document: dict[str, Any]) -> Table | Text:
    memberships = document.get("memberships") or {}
    if not memberships:
        return Text("\nin no segment")
    table = _table("segments", "", "since", "version")
    for key, state in sorted(memberships.items(), key=lambda kv: (not kv[1]["member"], kv[0])):
        where = "member" if state["member"] else "not a member"
        table.add_row(key, where, iso_from_ms(state["since_ms"]), f"v{state['version']}")
    return table


def _activity(document: dict[str, Any]) -> Table | Text:
    activity = document.get("activity") or []
    if not activity:
        return Text("\nno events counted by live segments (no other event history is kept)")
    table = _table("events counted", "count", "within", "latest")
    for entry in activity:
        name = f"{'/'.join(entry['types'])} {entry['event'] or '(any)'}"
        within = entry.get("within_ms")
        span = f"last {_duration(within)}" if within else "all time"
        table.add_row(name, str(entry["count"]), span, ", ".join(entry["recent"][:3]))
    return table


def _table(title: str, *columns: str) -> Table:
    table = Table(title, *columns, box=None, pad_edge=False, title_justify="left")
    table.title = None
    return table


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _duration(ms: int) -> str:
    for unit, size in (("days", 86_400_000), ("hours", 3_600_000), ("minutes", 60_000)):
        if ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms / 1000:g} s"
