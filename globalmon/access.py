"""Who is calling and what they may do: named credentials with roles, shared by every part.

A credential is a token from ``global.credentials.webhook_tokens`` (each named after a person or
system, with a role) or a component's own shared token (the webhook's ``webhook_token``, the
registry's ``registry_token``, the plugin exporter's ``ingest_token``: an admin there). Tokens are
kept as SHA-256 digests only; the name of the credential is the identity written to the audit
trail, never a name the caller declares. Each credential has its own request budget.

On the webhook:

    role      POST /webhook   GET /api/...   incidents: acknowledge ...   actions: approve/reject
    sender    yes             -              -                            -
    viewer    -               yes            -                            -
    operator  -               yes            yes                          -
    approver  -               yes            -                            yes
    admin     yes             yes            yes                          yes

On the plugin exporter and the registry, reads (their JSON APIs, the registry's http_sd list)
need a credential whose role may ``read`` or the component's own token, unless the spec sets
``global.credentials.open_reads``; writes take the component's own token only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from globalmon.http import error
from globalmon.secrets import SecretUnavailable, read_secret
from globalmon.spec.model import Credentials as CredentialsSpec
from globalmon.spec.types import SecretRef

Permission = Literal["send", "read", "operate", "approve"]
PERMISSIONS: dict[str, frozenset[Permission]] = {
    "sender": frozenset({"send"}),
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "operate"}),
    "approver": frozenset({"read", "approve"}),
    "admin": frozenset({"send", "read", "operate", "approve"}),
}
SHARED = "shared-token"  # the identity of the spec's single webhook_token
ANONYMOUS = "anonymous"  # --insecure-no-auth


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    shared: bool = False  # the one token everybody holds: `by` says who, as the caller claims

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """Digest -> principal; empty means no authentication (``--insecure-no-auth``)."""

    by_digest: dict[str, Principal] = field(default_factory=dict)
    basic_user: str = "alertmanager"  # the user name basic auth must carry with the shared token

    @classmethod
    def of(
        cls,
        shared: str | None,
        named: list[tuple[str, str, str]],
        basic_user: str = "alertmanager",
        *,
        shared_name: str = SHARED,
    ) -> Credentials:
        """``named``: (name, role, SHA-256 hex digest of its token); ``shared``: the
        component's own token, an admin named ``shared_name``."""
        out = {d.lower(): Principal(name, role) for name, role, d in named}
        if shared is not None:
            out[digest(shared)] = Principal(shared_name, "admin", shared=True)
        return cls(out, basic_user)

    def authenticate(self, request: web.Request) -> Principal | None:
        """The caller's principal, or None for missing or wrong credentials."""
        if not self.by_digest:
            return Principal(ANONYMOUS, "admin")
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self._lookup(value)
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            found = self._lookup(password)
            if found is None:
                return None
            # the shared token goes with the configured user; a named one with its own name
            expected = self.basic_user if found.shared else found.name
            return found if hmac.compare_digest(user.encode(), expected.encode()) else None
        return None

    def _lookup(self, token: str) -> Principal | None:
        # a digest of an unguessable token: the dict lookup's timing tells nothing useful
        return self.by_digest.get(digest(token)) if token else None


@dataclass
class Budget:
    """A token bucket per credential: ``rate`` requests a second, ``burst`` at once. Keys are
    credentials, or client addresses for a shared token: a bucket that has refilled is the same
    as none, so such buckets are dropped whenever the table has doubled (many addresses cannot
    grow it without bound, and no request pays for a sweep more than once on average)."""

    rate: float
    burst: float
    _left: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (tokens, at)
    _sweep_at: int = 1024

    def take(self, name: str, now: float) -> float:
        """0 when the request may go; else the seconds until one may."""
        if len(self._left) >= self._sweep_at:
            self._sweep(now)
        tokens, at = self._left.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1:
            self._left[name] = (tokens - 1, now)
            return 0.0
        self._left[name] = (tokens, now)
        return (1 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        full = [k for k, (t, at) in self._left.items() if t + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._left[k]
        self._sweep_at = max(1024, 2 * len(self._left))


def named_credentials(spec: CredentialsSpec) -> tuple[tuple[str, str, str], ...]:
    """(name, role, digest) of the spec's named credentials; reads the secrets of those given as
    references (raises SecretUnavailable)."""
    return tuple(
        (t.name, t.role, t.sha256 or digest(read_secret(t.secret)))  # type: ignore[arg-type]
        for t in spec.webhook_tokens
    )


def reader_credentials(
    spec: CredentialsSpec, skipped: Callable[[str, str], None]
) -> tuple[tuple[str, str, str], ...]:
    """The named credentials and the webhook's shared token (an admin, as on the webhook): who
    may read the plugin exporter and the registry besides their own token's holders. These
    components run on other hosts than the webhook, where another's secret may not be at hand:
    such a credential is left out (``skipped(name, why)``), not a reason to refuse to start;
    a credential given by its sha256 needs nothing at hand."""
    out: list[tuple[str, str, str]] = []
    refs: list[tuple[str, str, SecretRef | None, str | None]] = [
        (t.name, t.role, t.secret, t.sha256) for t in spec.webhook_tokens
    ]
    if spec.webhook_token:
        refs.append((SHARED, "admin", spec.webhook_token, None))
    for name, role, ref, sha in refs:
        if sha is not None:
            out.append((name, role, sha))
            continue
        assert ref is not None  # the spec holds one of secret and sha256
        try:
            out.append((name, role, digest(read_secret(ref))))
        except SecretUnavailable as exc:
            skipped(name, str(exc))
    return tuple(out)


@dataclass(frozen=True)
class ReadGuard:
    """Reads of a component's API: who may, and how often. ``credentials`` empty (and not
    ``open``) happens only with --insecure-no-auth, which opens everything."""

    credentials: Credentials
    open: bool = False
    budget: Budget | None = None

    def refused(self, request: web.Request, now: float) -> web.Response | None:
        """401 without a known credential, 403 for one whose role may not read, 429 past its
        budget; None when the read may go."""
        if self.open:
            return None
        who = self.credentials.authenticate(request)
        if who is None:
            return error(401, "missing or wrong credentials (a viewer's token)", "Authorization")
        if not who.may("read"):
            return error(403, f"the {who.role} role of {who.name} may not read", "Authorization")
        return self.charge(request, who, now)

    def charge(self, request: web.Request, who: Principal, now: float) -> web.Response | None:
        """429 with Retry-After when ``who`` is over its budget. A component's own token is
        held by many hosts (every agent has the registry's), as is no credential at all: their
        budget is per client address."""
        if self.budget is None:
            return None
        key = f"{who.name}@{request.remote}" if who.shared or who.name == ANONYMOUS else who.name
        wait = self.budget.take(key, now)
        if wait <= 0:
            return None
        response = error(429, f"too many requests from {who.name}", "Authorization")
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
