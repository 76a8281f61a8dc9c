"""Retries recognised by ``messageId``, as Segment does: a person remembers the ids of
the messages applied to it over a window, so an SDK's or a proxy's resend is never
counted twice, whatever Kafka position it arrives at.

Ids are kept hashed (16 hex digits: a collision among one person's ids is a 1-in-10^13
event at the default bound) with the instant they were first applied, newest kept.
The first copy wins, as in Segment: a later message with the same id and other content
is a duplicate too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from traitflow.profiles.profile import Profile


@dataclass(frozen=True, slots=True)
class Dedup:
    window_ms: int  # 0: off
    max_ids: int

    def is_repeat(self, profile: Profile, message_id: str, now_ms: int) -> bool:
        if not self.window_ms:
            return False
        seen = profile.recent_ids.get(digest(message_id))
        return seen is not None and now_ms - seen < self.window_ms

    def remember(self, profile: Profile, message_id: str, now_ms: int) -> None:
        """Record an applied message; forget ids past the window or the bound."""
        if not self.window_ms:
            return
        kept = self.pruned(profile.recent_ids, now_ms)
        kept[digest(message_id)] = now_ms
        profile.recent_ids = kept

    def unite(self, mine: dict[str, int], theirs: dict[str, int], now_ms: int) -> dict[str, int]:
        """Two people becoming one keep both memories (a retry may come under either id),
        oldest first, as ``remember`` keeps them."""
        both = dict(theirs)
        for key, at in mine.items():
            both[key] = min(at, both.get(key, at))
        return self.pruned(dict(sorted(both.items(), key=lambda item: item[1])), now_ms)

    def pruned(self, ids: dict[str, int], now_ms: int) -> dict[str, int]:
        """The ids still in the window, leaving room for one more within the bound (``ids``
        itself when its oldest, the first kept, is in the window: the common case, O(1)).
        After a clock step back the first may not be the oldest; an id past the window then
        stays a while, never counted a repeat (``is_repeat`` checks the window), and the
        bound still holds: the full pass below forgets past the window exactly."""
        room = self.max_ids - 1
        if len(ids) <= room and (not ids or now_ms - next(iter(ids.values())) < self.window_ms):
            return ids
        live = {key: at for key, at in ids.items() if now_ms - at < self.window_ms}
        if len(live) <= room:
            return live
        newest = sorted(live.items(), key=lambda item: item[1])
        return dict(newest[len(newest) - room :])


def digest(message_id: str) -> str:
    return hashlib.blake2b(message_id.encode(), digest_size=8).hexdigest()
