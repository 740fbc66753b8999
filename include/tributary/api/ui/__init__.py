"""The dataset browser: Tributary's pages inside Airflow's UI (``/tributary/ui/``).

Server-rendered Jinja2 pages on the API's own app and auth, htmx (vendored from npm into
``static/vendor``) for partial updates, and ``static/app.js`` for what changes data,
through the JSON API. See docs/browser.md.
"""

from tributary.api.ui.pages import router

__all__ = ["router"]
