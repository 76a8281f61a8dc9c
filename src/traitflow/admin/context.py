"""What the admin routes read: the worker's store, definitions, counts and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from traitflow.admin.sizes import SizeHistory
from traitflow.clock import Clock
from traitflow.config import Settings
from traitflow.privacy.suppressions import Suppressions
from traitflow.segments import Registry
from traitflow.worker.counts import MembershipCounts
from traitflow.worker.store.profiles import ProfileStore


@dataclass(frozen=True)
class AdminContext:
    settings: Settings
    store: ProfileStore
    registry: Registry
    counts: MembershipCounts
    owned: Callable[[], list[int]]
    recovered: Callable[[], bool]  # counting a half-recovered partition would stick
    clock: Clock
    suppressions: Suppressions = field(default_factory=Suppressions)  # the worker's list
    sizes: SizeHistory = field(default_factory=SizeHistory)
