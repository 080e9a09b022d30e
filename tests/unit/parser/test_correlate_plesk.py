"""Which smtpd failure a Plesk line names: the correlator's search (named failures kept apart) gives exactly
what the plain search over every recent failure gives, on random interleavings of both daemons' lines."""

from __future__ import annotations

import random
import time
from collections import deque
from datetime import timezone

import pytest
from mail_bruteforce_guard.parser.correlate import PLESK_WINDOW, Correlator, _far, _Item
from mail_bruteforce_guard.parser.stream import parse_lines

NOW = 1796000000.0
USERS = ("info", "admin", "office", None)


class ReferenceCorrelator(Correlator):
    """The plain search: every failure of the last PLESK_WINDOW seconds, newest first; the first of the
    Plesk line's user wins, else the newest one without a username."""

    def _plesk_target(
        self, recent: deque[_Item], host: str, user: str | None, when: float | None, t: float
    ) -> _Item | None:
        chosen = None
        for item in reversed(recent):
            if item.plesk or _far(when, item.time, PLESK_WINDOW):
                continue
            if item.user == user:
                return item
            if item.user is None and chosen is None:
                chosen = item
        return chosen


def _log(seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    when = 1795737600.0
    out = []
    for _step in range(count):
        when += rnd.choice((0, 0, 0, 1, 1, 2, 4, 7)) - (3 if rnd.random() < 0.03 else 0)  # steps back too
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(when))
        host = rnd.choice(("mail", "mail", "mx2"))
        user = rnd.choice(USERS)
        if rnd.random() < 0.5:
            named = f", sasl_username={user}" if user and rnd.random() < 0.4 else ""
            ip = f"203.0.113.{rnd.randrange(1, 9)}"
            out.append(f"{stamp} {host} postfix/smtpd[{rnd.randrange(100, 104)}]: warning: unknown[{ip}]: "
                       f"SASL LOGIN authentication failed: authentication failure{named}")  # fmt: skip
        else:
            shown = user or "x"
            out.append(f"{stamp} {host} plesk_saslauthd[4434]: failed mail authentication attempt for user "
                       f"'{shown}' (password len=7)")  # fmt: skip
    return out


@pytest.mark.parametrize("prompt", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_plesk_lines_name_the_failures_of_the_plain_search(seed: int, prompt: bool) -> None:
    lines = _log(seed, 400)
    events = []
    for corr in (Correlator(prompt=prompt), ReferenceCorrelator(prompt=prompt)):
        got = list(parse_lines(lines, now=NOW, tz=timezone.utc, correlator=corr, flush=False))
        events.append(got + corr.flush())
    assert events[0] == events[1]
    assert any(e.user for e in events[0] if e.service == "postfix")  # Plesk lines really named some


def test_the_named_failures_stay_bounded_where_no_plesk_line_comes() -> None:
    """Postfix >= 3.9 names every failure; without a Plesk line to take them, the failures kept apart for
    Plesk lines are only those of the last PLESK_WINDOW seconds."""
    stamp = "Nov 26 08:{:02d}:{:02d}"
    lines = [
        f"{stamp.format(i // 60, i % 60)} mail postfix/smtpd[7]: warning: unknown[203.0.113.5]: SASL LOGIN "
        f"authentication failed: authentication failure, sasl_username=u{i}"
        for i in range(3000)
    ]
    corr = Correlator(prompt=True)
    events = list(parse_lines(lines, now=NOW, tz=timezone.utc, correlator=corr, flush=False))
    assert len(events) == 3000
    assert len(corr._pf_named["mail"]) <= PLESK_WINDOW + 1
