"""nexus_tornado.errors: the exception tree and the wire contract's rejection codes."""

from __future__ import annotations

import json

import pytest

from nexus_tornado.errors import (
    AuthError,
    ConfigError,
    FrameTooLarge,
    NexusError,
    ProtocolError,
    Rejection,
    RejectionCode,
    StoreUnavailable,
)


def test_the_codes_are_the_wire_contracts() -> None:
    assert [code.value for code in RejectionCode] == [
        "INVALID_MESSAGE",
        "FORBIDDEN",
        "RATE_LIMITED",
        "TOO_LARGE",
        "UNAVAILABLE",
        "SERVER_ERROR",
    ]


@pytest.mark.parametrize("code", list(RejectionCode))
def test_a_code_reads_as_its_bare_name_in_json_text_and_headers(code: RejectionCode) -> None:
    assert json.dumps({"error": code}) == '{"error": "%s"}' % code.value
    assert str(code) == code.value
    assert "%s" % code == code.value
    assert f"{code}" == code.value
    assert code == code.value


def test_a_rejection_takes_the_code_as_member_or_name() -> None:
    assert Rejection(RejectionCode.FORBIDDEN, "no").code is RejectionCode.FORBIDDEN
    assert Rejection("RATE_LIMITED", "slow down").code is RejectionCode.RATE_LIMITED


def test_a_rejection_refuses_a_code_the_contract_does_not_have() -> None:
    with pytest.raises(ValueError):
        Rejection("NOPE", "not a code")


def test_rejection_details_are_its_own_copy() -> None:
    details = {"destination": "/topic/x"}
    rejection = Rejection(RejectionCode.FORBIDDEN, "no", details)
    rejection.details["subscription"] = "s1"
    assert details == {"destination": "/topic/x"}


def test_log_detail_defaults_to_the_client_message() -> None:
    assert NexusError("shown").log_detail == "shown"
    assert NexusError("shown", log_detail="logged").log_detail == "logged"
    assert Rejection(RejectionCode.FORBIDDEN, "shown", log_detail="logged").message == "shown"


@pytest.mark.parametrize(
    "error, parent",
    [
        (ConfigError, NexusError),
        (ProtocolError, NexusError),
        (FrameTooLarge, ProtocolError),
        (AuthError, NexusError),
        (Rejection, NexusError),
        (StoreUnavailable, NexusError),
    ],
)
def test_one_root(error: type, parent: type) -> None:
    assert issubclass(error, parent)
