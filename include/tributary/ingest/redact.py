"""``redact_url``: a URL safe to show — what a pre-signed URL signs stays, the secret goes.

Pre-signed URLs carry their credential in the query string: S3's ``X-Amz-Signature``,
``X-Amz-Credential`` and ``X-Amz-Security-Token``, GCS's ``X-Goog-Signature`` (and the
legacy ``Signature``), an Azure SAS's ``sig``, CloudFront's ``Signature``/``Policy``, and
the generic ``token``/``key``/``secret`` parameters of many APIs. Every message and log
line that names a URL passes it through here. The rest of the URL (host, path, the SAS's
expiry) stays readable, because that is what a person needs to find the broken row.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "REDACTED"

# Query parameter names whose value is a secret, compared lower-cased and percent-decoded.
_SECRET_NAMES = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "googleaccessid",
        "sig",
        "signature",
        "policy",
        "key-pair-id",
        "code",
        "jwt",
        "session",
    }
)
# ... and any name containing one of these words (api_key, access_token, client_secret, …).
_SECRET_WORDS = re.compile(r"token|signature|secret|passw|key|credential|auth|sas", re.I)


def _is_secret(name: str) -> bool:
    name = unquote(name).strip().lower()
    return name in _SECRET_NAMES or bool(_SECRET_WORDS.search(name))


def _redact_query(query: str) -> str:
    # Split by hand: parse_qsl would decode and re-encode the parts we keep.
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        parts.append(f"{name}={REDACTED}" if eq and _is_secret(name) else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``url`` with secret query values and any password replaced by ``REDACTED``.

    Never raises: a value that does not parse as a URL loses everything after its first
    ``?`` or ``#`` instead (a secret may hide there). Non-string input is shown by type.
    """
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
        query = _redact_query(parts.query) if parts.query else ""
        fragment = _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    except ValueError:
        return re.split(r"[?#]", url, maxsplit=1)[0] + ("?…" if re.search(r"[?#]", url) else "")
