"""nexus_tornado.policy.principal: who is on the other end of a session."""

from __future__ import annotations

import dataclasses

import pytest

from nexus_tornado.policy.principal import ADMIN_ROLE, Principal


def test_admin_is_the_admin_role_only() -> None:
    assert ADMIN_ROLE == "admin"
    assert Principal("root", roles=frozenset({"admin"})).is_admin
    assert Principal("root", roles=frozenset({"admin", "editor"})).is_admin
    assert not Principal("ann", roles=frozenset({"editor", "Admin", "administrator"})).is_admin
    assert not Principal("ann").is_admin


def test_defaults_and_immutability() -> None:
    principal = Principal("ann")
    assert (principal.roles, dict(principal.claims), principal.expires_at) == (frozenset(), {}, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.user_id = "bob"  # type: ignore[misc]


def test_principals_compare_by_value() -> None:
    assert Principal("ann", claims={"chats": ["c1"]}) == Principal("ann", claims={"chats": ["c1"]})
    assert Principal("ann") != Principal("bob")
