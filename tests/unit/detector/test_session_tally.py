"""The scan's tally of failures per service (``Tally.count_failures``): each run of one service's failures is
added up before the table is touched; the table is the per-event reference's, its keys in the same order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from mail_bruteforce_guard.detector.session import Tally
from mail_bruteforce_guard.parser.events import AUTH_FAILURE, AUTH_SUCCESS, NO_AUTH_ATTEMPTS, Event

EVENTS = st.builds(
    lambda kind, service, count: Event(0, 1.0, "192.0.2.1", kind, service, None, None, count),
    st.sampled_from([AUTH_FAILURE, AUTH_FAILURE, AUTH_SUCCESS, NO_AUTH_ATTEMPTS]),
    st.sampled_from(["dovecot", "postfix", "plesk"]),
    st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(EVENTS, max_size=12), max_size=4))
def test_failures_are_counted_per_service_as_event_by_event(batches: list) -> None:
    tally = Tally()
    expected: dict[str, int] = {}
    for events in batches:
        tally.count_failures(events)
        for event in events:  # the reference: one event at a time
            if event.kind == AUTH_FAILURE:
                expected[event.service] = expected.get(event.service, 0) + event.count
    assert tally.failures == expected
    assert list(tally.failures) == list(expected)
