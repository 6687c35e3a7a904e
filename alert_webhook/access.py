"""Who is calling the webhook and what they may do: named credentials with roles.

A credential is a token from ``global.credentials.webhook_tokens`` (each named after a person or
system, with a role) or the shared ``webhook_token`` of earlier specs (an admin). Tokens are kept
as SHA-256 digests only; the name of the credential is the identity written to the audit trail,
never a name the caller declares. Each credential has its own request budget on the API.

    role      POST /webhook   GET /api/...   incidents: acknowledge ...   actions: approve/reject
    sender    yes             -              -                            -
    viewer    -               yes            -                            -
    operator  -               yes            yes                          -
    approver  -               yes            -                            yes
    admin     yes             yes            yes                          yes
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

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
    ) -> Credentials:
        """``named``: (name, role, SHA-256 hex digest of its token)."""
        out = {d.lower(): Principal(name, role) for name, role, d in named}
        if shared is not None:
            out[digest(shared)] = Principal(SHARED, "admin", shared=True)
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
    """A token bucket per credential: ``rate`` requests a second, ``burst`` at once."""

    rate: float
    burst: float
    _left: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (tokens, at)

    def take(self, name: str, now: float) -> float:
        """0 when the request may go; else the seconds until one may."""
        tokens, at = self._left.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1:
            self._left[name] = (tokens - 1, now)
            return 0.0
        self._left[name] = (tokens, now)
        return (1 - tokens) / self.rate
