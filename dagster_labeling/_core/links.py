"""Where the links a client puts in metadata point: the vendor's web UI, or the emulator's pages.

A client links to a platform's web UI (a batch in a dashboard, a dataset in a web app). Which UI depends on
where its API calls go: the real API has the vendor's dashboard; the local emulator (any loopback host)
serves small stand-in pages on the same server; for any other base URL (a proxy in front of the real API)
the links go to the vendor's dashboard, and whoever runs a self-hosted UI sets the link root explicitly.
"""

import ipaddress
from urllib.parse import urlsplit

#: Hosts that mean "this machine": a base URL on one of them is the local emulator.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ``::1`` (brackets allowed).

    >>> [is_loopback_host(h) for h in ("127.0.0.1", "localhost", "[::1]", "::1", "api.scale.com", "10.0.0.1", None)]
    [True, True, True, True, False, False, False]
    """
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def public_root(url: str) -> str:
    """``url`` fit to be shown as a link root: no user info, query or fragment, no trailing ``/``.

    >>> public_root("http://user:pw@127.0.0.1:8765/argilla/?api_key=k#x")
    'http://127.0.0.1:8765/argilla'
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip().split("?", 1)[0].rstrip("/")
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/") if parts.scheme else url.strip().rstrip("/")


def link_root(base_url: str, explicit: str | None, *, real_root: str, local_path: str, api_suffix: str = "") -> str:
    """The root of a client's UI links, derived from its API ``base_url`` unless set ``explicit``-ly.

    - ``explicit`` (not None or blank) wins, as written (trailing ``/`` dropped);
    - a ``base_url`` on a loopback host (the emulator): the pages that server serves, i.e. ``base_url`` with
      ``api_suffix`` removed from the end of its path and ``local_path`` appended (no credentials, no query);
    - any other ``base_url``, the real API or a proxy in front of it: ``real_root``.

    Each platform passes its own defaults; nothing here knows a platform.

    >>> kw = dict(real_root="https://dashboard.example.com", local_path="dashboard", api_suffix="/v1")
    >>> link_root("https://api.example.com/v1", None, **kw)
    'https://dashboard.example.com'
    >>> link_root("http://127.0.0.1:8765/example/v1", None, **kw)
    'http://127.0.0.1:8765/example/dashboard'
    >>> link_root("http://127.0.0.1:8765/example/v1", "https://ui.internal/", **kw)
    'https://ui.internal'
    >>> link_root("https://proxy.corp/example/v1", None, **kw)
    'https://dashboard.example.com'
    """
    if explicit is not None and explicit.strip():
        return explicit.strip().rstrip("/")
    try:
        host = urlsplit(base_url.strip()).hostname
    except (ValueError, AttributeError):
        host = None
    if not is_loopback_host(host):
        return real_root.rstrip("/")
    root = public_root(base_url)
    suffix = api_suffix.strip("/")
    if suffix and (root == suffix or root.endswith("/" + suffix)):
        root = root[: len(root) - len(suffix)].rstrip("/")
    return f"{root}/{local_path.strip('/')}" if local_path.strip("/") else root
