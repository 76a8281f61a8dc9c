"""Membership transitions and the events that announce them."""

from traitflow.membership.events import Cause, Transition, event_id, membership_event

__all__ = ["Cause", "Transition", "event_id", "membership_event"]
