"""The Airflow Assets Tributary emits; import them from here to subscribe.

``ITEMS_CREATED`` gets an event whenever a sync indexes new items. Its ``extra`` carries
``dataset``, ``sync_id``, ``count`` and the new items' id range ``min_id``..``max_id``::

    from tributary.assets import ITEMS_CREATED

    @dag(schedule=[ITEMS_CREATED])
    def my_preprocessing(): ...
"""

from airflow.sdk import Asset, AssetAlias

ITEMS_CREATED = Asset(name="tributary_items_created", uri="tributary://items-created")

# A task that announces several datasets' new items at once (the upstream sync over
# every dataset) emits one ITEMS_CREATED event per dataset through this alias.
ITEMS_CREATED_EVENTS = AssetAlias(name="tributary_items_created_events")
