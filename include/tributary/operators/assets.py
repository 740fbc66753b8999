"""Moved to ``tributary.assets``: import ``ITEMS_CREATED`` from there.

Kept as a plain re-export for one release so that DAGs written against the old path keep
parsing (no DeprecationWarning: the dag-processor would log it on every parse of every
such file). To be removed in the release after next.
"""

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS

__all__ = ["ITEMS_CREATED", "ITEMS_CREATED_EVENTS"]
