"""The worker's admin HTTP API: profiles, segment member counts, explanations."""
