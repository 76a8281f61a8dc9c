"""Identity resolution: every id a message names leads to one canonical person.

``ids`` holds the pure rules (kinds, ranks, junk), ``merge`` how two profiles become one,
``resolver`` the protocol between partitions, ``reconcile`` the membership events of a
merge. The worker's handler only moves records and table entries for them.
"""
