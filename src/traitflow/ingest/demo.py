"""Made-up but plausible traffic, so ``traitflow up`` keeps membership events flowing."""

from __future__ import annotations

import random
import uuid
from typing import Any

from traitflow.timeutil import iso_from_ms, now_ms

# Not the people of examples/*.jsonl: the README's tour sends them messages dated in the
# past, which live traffic (dated now) would outrank, trait by trait.
PEOPLE = ["margaret", "alan", "barbara", "ken", "radia", "edsger", "frances", "john"]
PLANS = ["trial", "monthly", "annual", "free"]
EVENTS = ["Project Created", "Invite Sent", "Report Exported", "Order Completed"]
PAGES = ["Home", "Pricing", "Docs"]


def demo_message(rng: random.Random) -> dict[str, Any]:
    """One identify (a plan, payment or value change), track event or page view."""
    person = rng.choice(PEOPLE)
    common = {"userId": person, "messageId": str(uuid.UUID(int=rng.getrandbits(128)))}
    common["timestamp"] = iso_from_ms(now_ms())
    roll = rng.random()
    if roll < 0.2:
        return {"type": "page", "name": rng.choice(PAGES), **common}
    if roll < 0.45:
        event = rng.choice(EVENTS)
        properties = {"total": rng.randrange(20, 400, 10)} if event == "Order Completed" else {}
        return {"type": "track", "event": event, "properties": properties, **common}
    traits: dict[str, Any] = rng.choice(
        [
            {"plan": rng.choice(PLANS)},
            {"payment_status": rng.choice(["ok", "ok", "failed"])},
            {"lifetime_value": rng.randrange(0, 3000, 50)},
            {"email": f"{person}@example.com", "unsubscribed": rng.random() < 0.2},
        ]
    )
    return {"type": "identify", "traits": traits, **common}
