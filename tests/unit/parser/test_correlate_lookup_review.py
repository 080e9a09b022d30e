"""Review of the lookup rule (commit 0a0f024): one password lookup that several passdbs answer counts once
also where the lines name no session (Postfix's SASL requests), PAM's 2 s failure delay included."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import json

import pytest
from mail_bruteforce_guard.parser.correlate import Correlator
from mail_bruteforce_guard.parser.stream import parse_lines
from test_parser_correlate import IP, NOW, UTC, at, auth24, auth_line, failures, run, summary, warn


def sessionless24(sec: float, user: str, passdb: str = "passwd-file", *, worker: bool = False) -> str:
    """Dovecot 2.4's auth line of a request without a session (Postfix sends none)."""
    if worker:
        return (f"{at(sec)} mx dovecot: auth-worker({user},{IP})<2559>: request [1]: {passdb}: "
                "pam_authenticate() failed: Authentication failure (Password mismatch?)")  # fmt: skip
    return f"{at(sec)} mx dovecot: auth({user},{IP},sasl:plain): {passdb}: Password mismatch"


def older(sec: float, user: str, passdb: str = "passwd-file", *, worker: bool = False) -> str:
    return auth_line(sec, IP, user, driver=passdb)


@pytest.mark.parametrize("form", [sessionless24, older])
def test_smtp_guesses_through_passwd_file_then_pam_count_once_each(form) -> None:
    """Postfix with Dovecot SASL, passdbs passwd-file then PAM (2 s later): three wrong passwords, three
    Postfix warnings and the summary: three attempts (they counted six: PAM's line was an attempt of its own)."""
    lines = []
    for k in range(3):
        t = 10 + 5 * k
        lines += [form(t, "alice"), form(t + 2, "alice", "pam", worker=True), warn(t + 2.1, IP, user="alice")]
    lines.append(summary(40, IP, auth="0/3"))
    assert failures(run(lines)) == {IP: 3}


def test_two_parallel_smtp_guesses_count_at_least_twice() -> None:
    """Two connections of one address guess at once: their lines interleave; never fewer than the two
    guesses (Postfix's warnings count what the auth lines leave out), at most one more."""
    lines = [sessionless24(10, "alice"), sessionless24(10.1, "alice"),
             sessionless24(12, "alice", "pam", worker=True), sessionless24(12.1, "alice", "pam", worker=True),
             warn(12.2, IP, 100, "alice"), warn(12.3, IP, 101, "alice")]  # fmt: skip
    assert 2 <= failures(run(lines))[IP] <= 3


def test_a_lookup_split_by_the_saved_state_counts_once() -> None:
    """A scan ends between passwd-file's line and PAM's (2 s later): the next scan, from the state file,
    still knows the lookup (it counted the attempt twice: the lookups were not saved)."""
    first = [auth24(10, IP, "alice", "S1")]
    second = [auth24(12, IP, "alice", "S1", "pam", worker=True)]
    corr = Correlator(info=False)
    events = list(parse_lines(first, now=NOW, tz=UTC, correlator=corr, flush=True))
    state = json.loads(json.dumps(corr.to_dict()))
    corr = Correlator.from_dict(state, info=False)
    events += parse_lines(second, now=NOW, tz=UTC, correlator=corr, flush=True)
    assert failures(events) == {IP: 1}


@pytest.mark.parametrize("bad", [[], {"x": 1}, {"x": [1, "u", [], None, None]}, {"x": [1, "u", [2], None, None]},
                                 {"x": ["t", "u", ["p"], None, None]}, {"x": [1, "u", ["p"]]}])  # fmt: skip
def test_damaged_saved_lookups_give_a_fresh_correlator(bad: object) -> None:
    corr = Correlator(info=False)
    list(parse_lines([sessionless24(10, "alice")], now=NOW, tz=UTC, correlator=corr))
    state = corr.to_dict()
    assert state["lookups"]
    state["lookups"] = bad
    fresh = Correlator.from_dict(state, info=False)
    assert fresh.to_dict()["lookups"] == {} and fresh.last_time == 0.0
