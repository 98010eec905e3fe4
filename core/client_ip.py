"""The caller's address, the one way every per-IP limit and every audit entry reads it (issue 17,
item 4).

`TRUSTED_PROXY_COUNT` says how many proxies of ours stand in front of the application. Each of them
appends to `X-Forwarded-For` the address it was connected from, so with N trusted proxies the
Nth address from the right is the one the outermost of them saw: the caller. Everything to the
left of it was sent by the caller and proves nothing. With 0 (the default) the header is ignored
and the socket's `REMOTE_ADDR` is the caller.

Fewer entries than N: the request did not pass every trusted proxy (it reached an inner one
directly). Every entry there was then appended by a trusted proxy, none by the caller, so the
left-most is the address the first proxy it met saw: that one is taken. No header at all, or an
entry that is not an IP address (a misconfigured count reaching into the caller's part, a port, a
NUL byte): `REMOTE_ADDR`. Never an error: an audit entry stores what this returns.
"""

import ipaddress

from django.conf import settings

# IPv6 hosts are handed a whole /64: a limit per address would let one caller pick a new one per
# request, so limits count the /64.
IPV6_LIMIT_PREFIX = 64


def _address(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    return address


def _forwarded_choice(forwarded: str, trusted: int) -> str | None:
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return None
    return hops[-min(trusted, len(hops))]


def client_ip(request) -> str | None:
    """The caller's IP address as text (`203.0.113.9`, `2001:db8::1`), or None when even the
    socket's is missing or malformed (a test client without one)."""
    trusted = max(0, int(getattr(settings, "TRUSTED_PROXY_COUNT", 0)))
    if trusted:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and (address := _address(_forwarded_choice(forwarded, trusted))) is not None:
            return str(address)
    address = _address(request.META.get("REMOTE_ADDR"))
    return str(address) if address is not None else None


def limit_ident(request) -> str:
    """Who a per-IP limit counts: the caller's IPv4 address, or the /64 of its IPv6 address.
    "unknown" (one shared budget) when there is no address at all."""
    ip = client_ip(request)
    if ip is None:
        return "unknown"
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_LIMIT_PREFIX), strict=False))
    return ip
