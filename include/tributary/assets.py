"""The Airflow Assets Tributary emits; import them from here to subscribe.

``ITEMS_CREATED`` gets an event whenever a sync indexes new items. Its ``extra`` carries
``dataset``, ``sync_id``, ``count`` and the new items' id range ``min_id``..``max_id``::

    from tributary.assets import ITEMS_CREATED

    @dag(schedule=[ITEMS_CREATED])
    def my_preprocessing(): ...
"""

from airflow.sdk import Asset, AssetAlias

# An ``x-`` scheme is one Airflow leaves alone. Any other custom scheme makes Airflow load
# every provider's asset-URI handlers to normalise it (boto3, google-cloud: about 2 s on
# every parse of every DAG file that names the asset).
ITEMS_CREATED = Asset(name="tributary_items_created", uri="x-tributary://items-created")

# A task that announces several datasets' new items at once (the upstream sync over
# every dataset) emits one ITEMS_CREATED event per dataset through this alias.
ITEMS_CREATED_EVENTS = AssetAlias(name="tributary_items_created_events")
