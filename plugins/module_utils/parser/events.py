"""The Event record every parser stage produces and the policy consumes."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..times import iso_utc  # the event time's format (importers take it from here too)

AUTH_FAILURE = "auth_failure"
AUTH_SUCCESS = "auth_success"

# Informational kinds: never counted by the policy, printed by `parse`.
AUTH_SERVER_LOST = (
    "auth_server_lost"  # Postfix lost its SASL server, no genuine failure from that address before
)
TOO_MANY_ERRORS = "too_many_errors"  # smtpd: too many errors after AUTH (the attempts were counted already)
NO_AUTH_ATTEMPTS = "no_auth_attempts"  # Dovecot: client left without trying a password
PLAINTEXT_REFUSED = "plaintext_refused"  # Dovecot: plaintext auth refused before any password check
UNATTRIBUTED_FAILURE = (
    "unattributed_failure"  # plesk_saslauthd failure with no smtpd failure beside it (no ip)
)

# A later line of an attempt already released (and counted): its username and service only, count 0, never
# counted (the policy adds them to the address's and the account's details). Only a ``prompt`` correlator
# (scan, follow) makes it; ``parse`` merges such lines into the attempt's event instead.
AUTH_DETAIL = "auth_detail"

COUNTED_KINDS = frozenset((AUTH_FAILURE, AUTH_SUCCESS))
# Informational kinds the policy counts as pre-auth abuse (a connection that never tried a password)
PREAUTH_KINDS = frozenset((NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED))
INFO_KINDS = frozenset(
    (AUTH_SERVER_LOST, TOO_MANY_ERRORS, NO_AUTH_ATTEMPTS, PLAINTEXT_REFUSED, UNATTRIBUTED_FAILURE)
)


class Event(NamedTuple):
    """One recognised mail-log event; counted kinds are AUTH_FAILURE (weighted by count) and AUTH_SUCCESS."""

    line: int
    time: float | None
    ip: str | None
    kind: str
    service: str
    protocol: str | None
    user: str | None
    count: int = 1
    pid: int | None = None


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON object `parse --json` prints for one event (field order of Event, time as ISO 8601 UTC)."""
    out = event._asdict()
    out["time"] = iso_utc(event.time)
    return dict(out)
