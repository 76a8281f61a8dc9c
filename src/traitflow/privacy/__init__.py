"""People's right to be forgotten: deletion requests, their audit, and suppression."""
