"""Correlation: each real attempt counted once, usernames tied to addresses, serialisable bounded state."""

# ruff: noqa: E501  (real log lines are long: they stay whole, one per line, as the daemons write them)
from __future__ import annotations

import calendar
import json
import random
import time
from collections import Counter
from datetime import timezone
from pathlib import Path

import pytest
from mail_bruteforce_guard.detector.pipeline import success_filter
from mail_bruteforce_guard.parser import correlate
from mail_bruteforce_guard.parser import lines as raw
from mail_bruteforce_guard.parser.correlate import Correlator
from mail_bruteforce_guard.parser.events import (
    AUTH_FAILURE,
    AUTH_SERVER_LOST,
    AUTH_SUCCESS,
    NO_AUTH_ATTEMPTS,
    TOO_MANY_ERRORS,
    UNATTRIBUTED_FAILURE,
    Event,
)
from mail_bruteforce_guard.parser.stream import parse_lines

LOGS = Path(__file__).resolve().parents[2] / "data" / "logs"
NOW = float(calendar.timegm((2026, 11, 26, 23, 0, 0)))
UTC = timezone.utc
BASE = calendar.timegm((2026, 11, 26, 8, 0, 0))


def run(lines: list[str], **kw: object) -> list[Event]:
    return list(parse_lines(lines, now=NOW, tz=UTC, **kw))  # type: ignore[arg-type]


def failures(events: list[Event]) -> dict[str, int]:
    out: Counter = Counter()
    for e in events:
        if e.kind == AUTH_FAILURE:
            out[e.ip] += e.count
    return dict(out)


def kinds(events: list[Event]) -> Counter:
    return Counter(e.kind for e in events)


def at(sec: float) -> str:
    """RFC 3339 stamp ``sec`` seconds after 2026-11-26 08:00:00 UTC."""
    whole = int(sec)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE + whole))
    return f"{stamp}.{round((sec - whole) * 1e6):06d}+00:00"


def warn(sec: float, ip: str, pid: int = 100, user: str = "", reason: str = "authentication failure") -> str:
    suffix = f", sasl_username={user}" if user else ""
    return (f"{at(sec)} mx postfix/submission/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication "
            f"failed: {reason}{suffix}")  # fmt: skip


def lost(sec: float, ip: str, pid: int = 100) -> str:
    return warn(sec, ip, pid, "(unavailable)", "Connection lost to authentication server")


def summary(sec: float, ip: str, pid: int = 100, auth: str = "0/1") -> str:
    return f"{at(sec)} mx postfix/submission/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 auth={auth} quit=1"


def plesk(sec: float, user: str) -> str:
    return (f"{at(sec)} mx plesk_saslauthd[4434]: failed mail authenticatication attempt for user '{user}' "
            "(password len=8)")  # fmt: skip


def auth_line(sec: float, ip: str, user: str, session: str = "", driver: str = "passwd-file") -> str:
    tail = f",<{session}>" if session else ""
    return f"{at(sec)} mx dovecot: auth: {driver}({user},{ip}{tail}): unknown user"


def login_failed(sec: float, ip: str, n: int, user: str, session: str = "S1", *, secs: int = 5) -> str:
    return (f"{at(sec)} mx dovecot: imap-login: Disconnected (auth failed, {n} attempts in {secs} secs): "
            f"user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.10, TLS, session=<{session}>")  # fmt: skip


IP = "203.0.113.7"


# --- the forum thread --------------------------------------------------------------------------------------------
def test_seed_thread_counts_each_attempt_once_and_names_the_mailbox() -> None:
    events = run((LOGS / "plesk-seed.log").read_text().splitlines())
    assert failures(events) == {"162.255.86.250": 39}
    counted = [e for e in events if e.kind == AUTH_FAILURE]
    assert all(e.count == 1 and e.service == "postfix" and e.pid == 4805 for e in counted)
    named = [e.line for e in counted if e.user == "info@example.com"]
    assert named == [2, 41]  # the warning each plesk line (2 s and 3 s later) belongs to
    assert kinds(events)[TOO_MANY_ERRORS] == 1
    assert kinds(events)[UNATTRIBUTED_FAILURE] == 0
    assert [e.line for e in events] == sorted(e.line for e in events)


@pytest.mark.parametrize("gap", [0.0, 0.5, 2.0, 4.5])
def test_plesk_line_before_the_warning(gap: float) -> None:
    events = run([plesk(10, "bob@example.com"), warn(10 + gap, IP)])
    assert failures(events) == {IP: 1}
    assert [e.user for e in events if e.kind == AUTH_FAILURE] == ["bob@example.com"]


@pytest.mark.parametrize("gap", [0.0, 1.0, 2.0, 4.5])
def test_plesk_line_after_the_warning(gap: float) -> None:
    events = run([warn(10, IP), plesk(10 + gap, "bob@example.com")])
    assert failures(events) == {IP: 1}
    assert [e.user for e in events] == ["bob@example.com"]


def test_plesk_line_far_from_any_failure_is_unattributed_and_not_counted() -> None:
    events = run([warn(10, IP), plesk(30, "bob@example.com"), warn(60, IP)])
    assert failures(events) == {IP: 2}
    assert [(e.kind, e.ip, e.user) for e in events if e.kind != AUTH_FAILURE] == [
        (UNATTRIBUTED_FAILURE, None, "bob@example.com")
    ]
    assert all(e.user is None for e in events if e.kind == AUTH_FAILURE)


def test_plesk_pairs_with_the_warning_naming_the_same_user() -> None:
    other = "198.51.100.1"
    events = run([warn(10, IP, 1, "a@x"), warn(10.5, other, 2, "b@x"), plesk(11, "a@x"), plesk(11.2, "b@x")])
    assert failures(events) == {IP: 1, other: 1}
    assert {e.ip: e.user for e in events} == {IP: "a@x", other: "b@x"}


def test_two_concurrent_attackers_each_plesk_line_used_once() -> None:
    other = "198.51.100.1"
    lines = [plesk(10, "a@x"), warn(10, IP, 1), plesk(11, "b@x"), warn(11, other, 2)]
    events = run(lines)
    assert failures(events) == {IP: 1, other: 1}
    assert {e.ip: e.user for e in events} == {IP: "a@x", other: "b@x"}


# --- Dovecot SASL behind Postfix ------------------------------------------------------------------------------
def test_auth_process_line_and_postfix_warning_are_one_attempt() -> None:
    events = run(LOGS.joinpath("rsyslog-dovecot-sasl.log").read_text().splitlines())
    assert failures(events) == {"10.89.0.3": 5}  # 3 SMTP guesses + 1 lost after them + 1 IMAP guess
    by_line = {e.line: e for e in events}
    assert (
        by_line[7].user == "alice@example.com" and by_line[7].service == "postfix"
    )  # user from the auth line
    assert by_line[8].kind == AUTH_FAILURE  # connection lost after genuine failures: counted
    assert by_line[11].protocol == "imap" and by_line[11].user == "alice@example.com"
    assert by_line[18].kind == AUTH_SERVER_LOST and by_line[18].ip == "10.89.0.9"  # alone: informational
    successes = [(e.ip, e.user, e.count) for e in events if e.kind == AUTH_SUCCESS]
    assert successes == [("10.89.0.4", "alice@example.com", 1), ("10.89.0.4", "alice@example.com", 1),
                         ("10.89.0.5", None, 1)]  # fmt: skip


@pytest.mark.parametrize("delay", [0.5, 2.0, 9.9, 14.0])
def test_postfix_takes_over_the_auth_line(delay: float) -> None:
    events = run([auth_line(10, IP, "carol"), warn(10 + delay, IP)])
    assert [(e.kind, e.service, e.user, e.count) for e in events] == [(AUTH_FAILURE, "postfix", "carol", 1)]


def test_auth_line_alone_counts_once() -> None:
    events = run([auth_line(10, IP, "carol"), warn(40, "198.51.100.1")])
    assert failures(events) == {IP: 1, "198.51.100.1": 1}
    assert [e.user for e in events if e.ip == IP] == ["carol"]


def test_auth_line_too_old_for_the_warning() -> None:
    events = run([auth_line(10, IP, "carol"), warn(30, IP)])
    assert failures(events) == {IP: 2}


def test_each_passdb_reporting_the_same_lookup_is_one_attempt() -> None:
    events = run(
        [auth_line(10, IP, "carol"), auth_line(10.2, IP, "carol", driver="pam"), auth_line(13, IP, "carol")]
    )
    assert failures(events) == {IP: 2}


def auth24(
    sec: float, ip: str, user: str, session: str, passdb: str = "passwd-file", *, worker: bool = False
) -> str:
    """Dovecot 2.4's auth process line (an auth worker's with ``worker``), as Debian 13 logs it."""
    if worker:
        return (f"{at(sec)} mx dovecot: auth-worker({user},{ip})<2559><{session}>: request [1]: {passdb}: "
                "pam_authenticate() failed: Authentication failure (Password mismatch?)")  # fmt: skip
    return f"{at(sec)} mx dovecot: auth({user},{ip},sasl:plain)<{session}>: {passdb}: Password mismatch"


def aborted24(sec: float, ip: str, n: int, user: str, session: str) -> str:
    return (f"{at(sec)} mx dovecot: imap-login: Login aborted: Logged out (auth failed, {n} attempts in 4 secs) "
            f"(auth_failed): user=<{user}>, method=PLAIN, rip={ip}, lip=127.0.0.1, secured, session=<{session}>")  # fmt: skip


@pytest.mark.parametrize("prompt", [False, True])
def test_each_passdb_of_a_dovecot_24_lookup_is_one_attempt(prompt: bool) -> None:
    """passwd-file, then PAM in an auth worker (2 s later: PAM's own delay), then the login summary: one
    attempt (a trixie container logged this sequence). A passdb asked again starts the next attempt."""
    lines = [auth24(10, IP, "alice", "S1"), auth24(12, IP, "alice", "S1", "pam", worker=True),
             auth24(14, IP, "alice", "S1"), auth24(16, IP, "alice", "S1", "pam", worker=True),
             aborted24(18, IP, 2, "alice", "S1")]  # fmt: skip
    corr = Correlator(info=False, prompt=prompt)
    events = list(parse_lines(lines, now=NOW, tz=UTC, correlator=corr, flush=True))
    assert failures(events) == {IP: 2}
    assert [e.line for e in events if e.kind == AUTH_FAILURE] == [1, 3]  # counted from the auth lines


def test_a_passdb_that_pam_delays_is_still_the_same_lookup() -> None:
    """Dovecot 2.3's form: passwd-file, then PAM 2 s later (PAM's failure delay), one session: one attempt."""
    lines = [auth_line(10, IP, "carol", "S1"), auth_line(12, IP, "carol", "S1", driver="pam")]
    assert failures(run(lines)) == {IP: 1}


def test_lookups_of_two_sessions_of_one_address_interleave() -> None:
    """Two connections of one client fail at once: each session's passdbs are its own lookup."""
    lines = [auth24(10, IP, "alice", "S1"), auth24(10.5, IP, "alice", "S2"),
             auth24(12, IP, "alice", "S1", "pam", worker=True), auth24(12.5, IP, "alice", "S2", "pam", worker=True),
             aborted24(14, IP, 1, "alice", "S1"), aborted24(14.5, IP, 1, "alice", "S2")]  # fmt: skip
    events = run(lines)
    assert failures(events) == {IP: 2}
    assert [e.line for e in events if e.kind == AUTH_FAILURE] == [1, 2]


def test_a_second_passdb_long_after_the_first_is_another_attempt() -> None:
    """Beyond LOOKUP_WINDOW of each other two lines of one session are two lookups."""
    lines = [
        auth24(10, IP, "alice", "S1"),
        auth24(10 + correlate.LOOKUP_WINDOW + 1, IP, "alice", "S1", "pam"),
    ]
    assert failures(run(lines)) == {IP: 2}


# --- Dovecot login summaries ---------------------------------------------------------------------------------------
def test_login_summary_and_auth_lines_describe_the_same_attempts() -> None:
    lines = [auth_line(10, IP, "a", "S1"), auth_line(12, IP, "b", "S1"), auth_line(14, IP, "c", "S1"),
             login_failed(16, IP, 3, "c", "S1")]  # fmt: skip
    events = run(lines)
    assert failures(events) == {IP: 3}
    assert [(e.user, e.protocol) for e in events] == [("a", "imap"), ("b", "imap"), ("c", "imap")]


def test_login_summary_adds_attempts_without_auth_lines() -> None:
    events = run([auth_line(10, IP, "a", "S1"), login_failed(16, IP, 3, "a", "S1")])
    assert failures(events) == {IP: 3}
    assert [e.count for e in events] == [1, 2]


def test_login_summary_long_after_its_auth_lines() -> None:
    lines = [auth_line(10, IP, "a"), auth_line(12, IP, "a"), warn(100, "198.51.100.1"),
             login_failed(195, IP, 2, "a", secs=190)]  # fmt: skip
    events = run(lines)
    assert failures(events) == {IP: 2, "198.51.100.1": 1}


def test_login_summary_other_session_is_not_merged() -> None:
    events = run([auth_line(10, IP, "a", "S1"), login_failed(16, IP, 1, "a", "S2")])
    assert failures(events) == {IP: 2}


def test_postfix_does_not_take_an_imap_sessions_auth_line() -> None:
    events = run([auth_line(10, IP, "a", "S1"), warn(12, IP), login_failed(13, IP, 1, "a", "S1")])
    assert failures(events) == {IP: 2}


# --- smtpd sessions ---------------------------------------------------------------------------------------------
def test_summary_adds_only_unseen_attempts() -> None:
    events = run([warn(10, IP), warn(12, IP), summary(13, IP, auth="0/3")])
    assert failures(events) == {IP: 3}
    assert [e.count for e in events] == [1, 1, 1]


def test_summary_alone_counts_all_its_failures() -> None:
    events = run([summary(13, IP, auth="0/4")])
    assert failures(events) == {IP: 4}


def test_summary_of_another_session_on_the_same_pid() -> None:
    events = run([warn(10, IP, 7), summary(11, IP, 7, "0/1"), summary(20, IP, 7, "0/2")])
    assert failures(events) == {IP: 3}


def test_summary_after_pid_reuse_by_another_client() -> None:
    other = "198.51.100.1"
    events = run([warn(10, IP, 7), warn(11, other, 7), summary(12, other, 7, "0/1")])
    assert failures(events) == {IP: 1, other: 1}


def test_summary_for_a_silent_stale_session_is_a_new_session() -> None:
    events = run([warn(10, IP, 7), summary(10 + correlate.SMTPD_IDLE + 5, IP, 7, "0/1")])
    assert failures(events) == {IP: 2}


def test_successes_once_per_session() -> None:
    client = (
        "{t} mx postfix/submission/smtpd[9]: {q}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username=al"
    )
    lines = [client.format(t=at(10), q="AAA1", ip=IP), client.format(t=at(11), q="AAA2", ip=IP),
             summary(12, IP, 9, "1"), summary(20, IP, 10, "1"), summary(30, IP, 11, "1/3")]  # fmt: skip
    events = run(lines)
    assert [(e.kind, e.user, e.count) for e in events] == [
        (AUTH_SUCCESS, "al", 1), (AUTH_SUCCESS, None, 1), (AUTH_FAILURE, None, 2), (AUTH_SUCCESS, None, 1)
    ]  # fmt: skip


# --- Connection lost to authentication server -----------------------------------------------------------------------
def test_connection_lost_alone_is_informational() -> None:
    events = run([lost(10, IP), summary(11, IP)])
    assert failures(events) == {}
    assert kinds(events) == Counter({AUTH_SERVER_LOST: 1})


def test_connection_lost_after_genuine_failures_counts() -> None:
    events = run([warn(10, IP), lost(30, IP), lost(300, IP), summary(301, IP, auth="0/3")])
    assert failures(events) == {IP: 3}


def test_connection_lost_long_after_the_failures_is_informational() -> None:
    events = run([warn(10, IP, 1), lost(10 + correlate.LOST_WINDOW + 1, IP, 2)])
    assert failures(events) == {IP: 1}
    assert kinds(events)[AUTH_SERVER_LOST] == 1


def test_connection_lost_after_another_addresses_failures_is_informational() -> None:
    events = run([warn(10, "198.51.100.1", 1), lost(30, IP, 2)])
    assert failures(events) == {"198.51.100.1": 1}


def test_info_false_keeps_only_counted_kinds() -> None:
    lines = [
        lost(10, IP),
        plesk(100, "x"),
        warn(200, IP),
        f"{at(300)} mx dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip={IP}",
    ]
    assert kinds(run(lines)) == Counter({AUTH_SERVER_LOST: 1, UNATTRIBUTED_FAILURE: 1, AUTH_FAILURE: 1,
                                         NO_AUTH_ATTEMPTS: 1})  # fmt: skip
    assert kinds(run(lines, info=False)) == Counter({AUTH_FAILURE: 1})


# --- ordering, incremental state ------------------------------------------------------------------------------------
def test_events_in_line_order_and_held_until_hold_passes() -> None:
    corr = Correlator()
    first = list(parse_lines([warn(10, IP)], now=NOW, tz=UTC, correlator=corr))
    assert first == []  # held for a Plesk line that may follow
    more = list(
        parse_lines([warn(10 + correlate.HOLD + 1, IP)], now=NOW, tz=UTC, correlator=corr, start_line=2)
    )
    assert [e.line for e in more] == [1]
    assert [e.line for e in corr.flush()] == [2]


def _sample_lines() -> list[str]:
    return (LOGS.joinpath("plesk-seed.log").read_text().splitlines()
            + LOGS.joinpath("rsyslog-dovecot-sasl.log").read_text().splitlines()
            + [auth_line(3600 * 10 + 10, IP, "a", "S1"), login_failed(3600 * 10 + 14, IP, 2, "a", "S1"),
               plesk(3600 * 10 + 20, "z"), warn(3600 * 10 + 21, IP, 5)])  # fmt: skip


def test_state_round_trip_at_every_split_point_gives_the_same_events() -> None:
    lines = _sample_lines()
    whole = run(lines)
    for cut in range(len(lines) + 1):
        corr = Correlator()
        got = list(parse_lines(lines[:cut], now=NOW, tz=UTC, correlator=corr))
        state = json.loads(json.dumps(corr.to_dict()))
        corr2 = Correlator.from_dict(state)
        got += parse_lines(lines[cut:], now=NOW, tz=UTC, correlator=corr2, start_line=cut + 1, flush=True)
        assert got == whole, cut


def test_flush_each_run_never_double_counts() -> None:
    """A scan that flushes at the end of every run may lose a username, never count an attempt twice."""
    lines = _sample_lines()
    whole = failures(run(lines))
    for cut in range(len(lines) + 1):
        corr = Correlator()
        got = list(parse_lines(lines[:cut], now=NOW, tz=UTC, correlator=corr, flush=True))
        corr2 = Correlator.from_dict(json.loads(json.dumps(corr.to_dict())))
        got += parse_lines(lines[cut:], now=NOW, tz=UTC, correlator=corr2, start_line=cut + 1, flush=True)
        assert failures(got) == whole, cut


@pytest.mark.parametrize(
    "bad",
    [None, [], "x", {"version": 99}, {"version": 1, "sessions": "x"}, {"version": 1, "held": [[1, 2]]},
     {"version": 1, "last_time": "soon", "sessions": {}, "genuine": {}, "credits": {}, "held": []}],
)  # fmt: skip
def test_from_dict_garbage_gives_a_fresh_correlator(bad: object) -> None:
    corr = Correlator.from_dict(bad)
    assert corr.to_dict()["sessions"] == {} and corr.to_dict()["held"] == []


def test_state_stays_small_and_bounded() -> None:
    lines = []
    for i in range(3000):  # 3000 attackers over ~8 hours, one session each, never disconnecting
        lines.append(warn(i * 10.0, f"198.51.{i // 250}.{i % 250 + 1}", pid=1000 + i))
    corr = Correlator()
    events = list(parse_lines(lines, now=NOW, tz=UTC, correlator=corr))
    assert sum(e.count for e in events) == 3000 - len(corr.to_dict()["held"])
    state = corr.to_dict()
    assert len(state["sessions"]) <= correlate.SMTPD_IDLE / 10 + 1
    assert len(state["genuine"]) <= correlate.LOST_WINDOW / 10 + 1
    assert len(json.dumps(state)) < 200_000


def test_success_summaries_skipped_or_used() -> None:
    client = f"{at(10)} mx postfix/submission/smtpd[9]: AAA1: client=unknown[{IP}], sasl_method=PLAIN, sasl_username=al"
    full = f"{at(12)} mx postfix/submission/smtpd[9]: disconnect from unknown[{IP}] ehlo=2 auth=1 mail=1 rcpt=1 data=1"
    refused = f"{at(22)} mx postfix/submission/smtpd[10]: disconnect from unknown[{IP}] ehlo=2 auth=1 mail=1 rcpt=0/1"
    events = run([client, full, refused])
    assert [(e.kind, e.user, e.line) for e in events] == [(AUTH_SUCCESS, "al", 1), (AUTH_SUCCESS, None, 3)]


# --- admit_success: the caller's filter of logins (the pipeline's success filter) ------------------------------
def login_ok(sec: float, ip: str, user: str = "al") -> str:
    return (f"{at(sec)} mx dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.10, "
            "mpid=7, TLS, session=<S9>")  # fmt: skip


def client_ok(sec: float, ip: str, pid: int) -> str:
    return (f"{at(sec)} mx postfix/submission/smtpd[{pid}]: AAA{pid}: client=unknown[{ip}], sasl_method=PLAIN, "
            "sasl_username=al")  # fmt: skip


def test_admit_success_is_asked_about_every_login_and_drops_the_ones_it_turns_away() -> None:
    """The correlator applies no policy of its own: each login is the filter's to judge."""
    asked: list[str] = []
    wanted = {"192.0.2.4"}

    def admit(ip: str, _user: str | None, _t: float) -> bool:
        asked.append(ip)
        return ip in wanted

    a, b, c, d = "198.51.100.1", "198.51.100.2", "198.51.100.3", "192.0.2.4"
    lines = [warn(0, a), login_ok(5, a), login_ok(6, b), client_ok(7, c, 9), summary(8, c, 9, "1"),
             login_ok(9, d)]  # fmt: skip
    corr = Correlator(info=False, admit_success=admit)
    events = list(parse_lines(lines, now=NOW, tz=UTC, correlator=corr, flush=True))
    # c's summary does not report the dropped login again: its session knows it
    assert [(e.kind, e.ip) for e in events] == [(AUTH_FAILURE, a), (AUTH_SUCCESS, d)]
    assert asked == [a, b, c, d]
    assert corr.failed_lately(a) and not corr.failed_lately(b)
    # without a filter, every login is an event
    assert kinds(run(lines, info=False))[AUTH_SUCCESS] == 4


def test_the_pipelines_success_filter_keeps_logins_after_a_failure_without_asking() -> None:
    """``success_filter``: a login from an address that failed lately goes on; the policy judges the rest."""
    asked: list[str] = []

    def policy(ip: str, _user: str | None, _t: float) -> bool:
        asked.append(ip)
        return ip == "192.0.2.4"

    a, b, c, d = "198.51.100.1", "198.51.100.2", "198.51.100.3", "192.0.2.4"
    lines = [warn(0, a), login_ok(5, a), login_ok(6, b), client_ok(7, c, 9), summary(8, c, 9, "1"),
             login_ok(9, d)]  # fmt: skip
    corr = Correlator(info=False)
    corr.admit_success = success_filter(corr.failed_lately, policy)
    events = list(parse_lines(lines, now=NOW, tz=UTC, correlator=corr, flush=True))
    assert [(e.kind, e.ip) for e in events] == [(AUTH_FAILURE, a), (AUTH_SUCCESS, a), (AUTH_SUCCESS, d)]
    assert asked == [b, c, d]


def test_failed_lately_remembers_failures_evicted_before_the_caller_counted_them() -> None:
    """A failure older than LOST_WINDOW leaves the correlator's memory (at its periodic eviction) maybe
    before the caller counted it: its address still failed lately until ``settled()``."""
    corr = Correlator(info=False, admit_success=lambda *_: False)
    others = [warn(1 + i * 700 / 4096, f"10.{i // 250}.{i % 250}.1", pid=2000 + i) for i in range(4096)]
    list(parse_lines([warn(0, IP), *others], now=NOW, tz=UTC, correlator=corr))
    assert IP not in corr.to_dict()["genuine"]  # evicted: the failure is 700 s old
    assert corr.failed_lately(IP)
    corr.settled()  # the caller has counted it now, and its policy answers for it
    assert not corr.failed_lately(IP)


def test_failed_lately_holds_for_every_address_once_the_failure_memory_overflowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(correlate, "MAX_ADDRESSES", 100)
    corr = Correlator(info=False, admit_success=lambda *_: False)
    failed = [warn(i / 10, f"10.{i // 250}.{i % 250}.1", pid=2000 + i) for i in range(4096)]
    list(parse_lines(failed, now=NOW, tz=UTC, correlator=corr))  # 4096 addresses failing in 410 s
    corr.settled()
    # the first addresses were dropped from the memory before their time: a login must not be lost
    assert "10.0.0.1" not in corr.to_dict()["genuine"]
    assert corr.failed_lately("10.0.0.1") and corr.failed_lately("192.0.2.99")


def test_restored_held_failures_are_failing_addresses() -> None:
    corr = Correlator(info=False)
    assert list(parse_lines([warn(0, IP)], now=NOW, tz=UTC, correlator=corr)) == []  # held
    state = json.loads(json.dumps(corr.to_dict()))
    state["genuine"] = {}  # an older state file, or an address evicted when the memory was full
    corr2 = Correlator.from_dict(state, info=False)
    corr2.admit_success = success_filter(corr2.failed_lately, lambda *_: False)
    got = list(parse_lines([login_ok(1, IP)], now=NOW, tz=UTC, correlator=corr2, flush=True))
    assert [(e.kind, e.ip) for e in got] == [(AUTH_FAILURE, IP), (AUTH_SUCCESS, IP)]


def test_pam_unix_and_dovecot_pam_line_are_one_attempt() -> None:
    lines = [
        f"{at(10)} mx auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot "
        f"ruser=carol rhost={IP}  user=carol",
        f"{at(10.5)} mx dovecot: auth-worker(77): pam(carol,{IP}): pam_authenticate() failed: Authentication "
        "failure (password mismatch?)",
        f"{at(30)} mx dovecot: auth-worker(77): pam(carol,{IP}): pam_authenticate() failed: Authentication "
        "failure (password mismatch?)",
    ]
    events = run(lines)
    assert failures(events) == {IP: 2}
    assert [e.user for e in events] == ["carol", "carol"]


def test_held_events_are_bounded_when_the_clock_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines that all carry one second are never released by time: the MAX_HELD bound (checked every 4,096
    records) releases the oldest ones, in line order, and every event still comes out exactly once."""
    monkeypatch.setattr(correlate, "MAX_HELD", 100)
    corr = Correlator(info=False)
    lines = [warn(5.0, f"198.51.100.{i % 200}", pid=1000 + i) for i in range(10000)]
    released = list(parse_lines(lines, now=NOW, tz=UTC, correlator=corr))
    assert len(corr._held) <= 100 + 4096
    assert len(released) >= 10000 - 100 - 4096
    everything = released + corr.flush()
    assert [e.line for e in everything] == list(range(1, 10001))
    assert {e.kind for e in everything} == {AUTH_FAILURE}


class _ReferenceEviction(Correlator):
    """The failure memory's eviction as it was written first: a copy of the table on every pass."""

    def _evict_genuine(self, old: float) -> None:
        genuine = {k: v for k, v in self._genuine.items() if v >= old}
        while len(genuine) > correlate.MAX_ADDRESSES:
            del genuine[next(iter(genuine))]
            self._overflowed = True
        if self.admit_success is not None and len(genuine) < len(self._genuine):
            self._evicted.update(self._genuine.keys() - genuine.keys())
        self._genuine = genuine


def _filtered(corr: Correlator) -> Correlator:
    """``corr`` with the pipeline's success filter over a policy that wants the logins of ...7 addresses."""
    corr.admit_success = success_filter(corr.failed_lately, lambda ip, _user, _t: ip.endswith("7"))
    return corr


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("bound", [140, 400])  # mostly overflow, mostly stale times
def test_genuine_eviction_matches_the_reference(
    seed: int, bound: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping the read of a table with no stale time (its floor) and deleting the overflow in place leave
    the same table, in the same order, the same evicted set and overflow flag as a copy on every pass:
    failures and logins of a few hundred addresses, the clock sometimes jumping past LOST_WINDOW, the size
    bound small enough to overflow, and a save/restore half way."""
    monkeypatch.setattr(correlate, "MAX_ADDRESSES", bound)
    rng = random.Random(seed)
    fast = _filtered(Correlator(info=False))
    ref = _filtered(_ReferenceEviction(info=False))
    when = 1_790_000_000.0
    for batch in range(12):
        records = []
        for _draw in range(1500):
            when += rng.choice((0.0, 0.05, 0.1, 0.2)) if rng.random() > 0.0002 else correlate.LOST_WINDOW + 1
            n = batch * 60 + rng.randrange(150)  # the attackers change: older addresses fall quiet
            ip = f"198.51.{n // 256}.{n % 256}"
            kind = raw.LOGIN_SUCCESS if rng.random() < 0.3 else raw.LOGIN_FAILURE
            records.append(raw.Record(when, kind, "dovecot", "imap", ip, "u", 1, None, "h", None, 2, ""))
        out_fast: list = []
        out_ref: list = []
        fast.feed_all(records, range(len(records)), out_fast)
        ref.feed_all(records, range(len(records)), out_ref)
        assert out_fast == out_ref
        assert list(fast._genuine.items()) == list(ref._genuine.items())
        assert (fast._evicted, fast._overflowed) == (ref._evicted, ref._overflowed)
        fast.settled()
        ref.settled()
        if batch == 5:  # an incremental scan: the state goes through JSON
            fast = _filtered(Correlator.from_dict(json.loads(json.dumps(fast.to_dict())), info=False))
            ref = _filtered(_ReferenceEviction.from_dict(json.loads(json.dumps(ref.to_dict())), info=False))
    assert fast._overflowed or bound == 400  # both ways of deleting the overflow were compared
    assert fast.to_dict() == ref.to_dict()


def test_a_saved_smtpd_session_keeps_its_list_form_and_reads_back() -> None:
    """_Session is saved as [ip, seen, failures, logins, user] (the state format before it was a class)."""
    sess = correlate._Session("203.0.113.5", 100.0, 2, 1, "bob")
    assert sess.to_list() == ["203.0.113.5", 100.0, 2, 1, "bob"]
    back = correlate._Session.from_list(sess.to_list())
    assert [getattr(back, name) for name in ("ip", "seen", "failures", "logins", "user")] == sess.to_list()
