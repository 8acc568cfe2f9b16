"""Keep secrets out of error messages, logs and alert text.

Slack and Teams webhook URLs carry their credential in the path, and provider errors can echo
API keys or bearer tokens, so anything that leaves this package as text goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s/'\"<>?#]+)[^\s'\"<>]*")
_TOKENS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk|xox[abprs]|ghp|gho|AKIA)[-_A-Za-z0-9]{8,}"),
    re.compile(r"(?i)\b(api[_-]?key|token|secret|password|passwd|sig)=([^&\s'\"]+)"),
)


def safe_origin(url: str) -> str:
    """scheme://host[:port] of a URL: all that may be shown of a secret webhook URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not host:
        return "<invalid url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def _origin_of_match(match: re.Match[str]) -> str:
    url = match.group(0)
    core = url.rstrip(".,:;)]}")  # sentence punctuation after a URL is not part of it
    return safe_origin(core) + url[len(core) :]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove the given secrets, URL paths/queries/credentials and token-looking strings."""
    out = text
    for secret in secrets:
        if not secret:
            continue
        out = out.replace(secret, "<redacted>")
        try:
            parts = urlsplit(secret)
        except ValueError:
            continue
        # urllib3 reports "Max retries exceeded with url: /path?query": strip the path alone
        if parts.scheme and len(parts.path) > 1:
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            out = out.replace(tail, "<redacted>").replace(parts.path, "<redacted>")
    out = _URL.sub(_origin_of_match, out)
    out = _TOKENS[0].sub(lambda m: f"{m.group(1)} <redacted>", out)
    out = _TOKENS[1].sub("<redacted>", out)
    out = _TOKENS[2].sub(lambda m: f"{m.group(1)}=<redacted>", out)
    return out
