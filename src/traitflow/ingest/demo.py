"""Made-up but plausible traffic, so ``traitflow up`` keeps membership events flowing."""

from __future__ import annotations

import random
import uuid
from typing import Any

from traitflow.timeutil import iso_from_ms, now_ms

PEOPLE = ["ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "radia"]
PLANS = ["trial", "monthly", "annual", "free"]
EVENTS = ["Project Created", "Invite Sent", "Report Exported", "Pricing Viewed"]


def demo_message(rng: random.Random) -> dict[str, Any]:
    """One identify (a plan, payment or value change) or one track event."""
    person = rng.choice(PEOPLE)
    common = {"userId": person, "messageId": str(uuid.UUID(int=rng.getrandbits(128)))}
    common["timestamp"] = iso_from_ms(now_ms())
    if rng.random() < 0.3:
        return {"type": "track", "event": rng.choice(EVENTS), **common}
    traits: dict[str, Any] = rng.choice(
        [
            {"plan": rng.choice(PLANS)},
            {"payment_status": rng.choice(["ok", "ok", "failed"])},
            {"lifetime_value": rng.randrange(0, 3000, 50)},
            {"email": f"{person}@example.com", "unsubscribed": rng.random() < 0.2},
        ]
    )
    return {"type": "identify", "traits": traits, **common}
