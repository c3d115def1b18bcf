"""People acting in tests, as the app sees them."""

from __future__ import annotations

from cmoc_core.access import Role, Viewer


def configured(name: str) -> Viewer:
    """The configured user named `name`, acting for everyone as without sign-in."""
    return Viewer(
        name=name,
        email=None,
        person_key=None,
        roles=frozenset({Role.CMOC, Role.MANAGER}),
        signed_in=False,
    )
