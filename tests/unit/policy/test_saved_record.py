"""A saved tracker record (state.json "records") is read by named indexes: SAVED_FIELDS names each place of
to_list(), and from_list reads every field back from its own place."""

from __future__ import annotations

from mail_bruteforce_guard.policy import record


def _record() -> record.AddressRecord:
    rec = record.AddressRecord(1000.0, 3)
    rec.last = 2000.0
    rec.failures = 7
    rec.window = [1500.0, 2, 1900.0, 5]
    rec.services = frozenset({"postfix", "dovecot"})
    rec.users = ["bob", "alice"]
    rec.bans = 2
    rec.ban_until = 9000.0
    rec.reason = "7 failures"
    return rec


def test_every_saved_place_holds_the_field_it_is_named_after():
    rec = _record()
    saved = rec.to_list()
    assert len(saved) == len(record.SAVED_FIELDS) == len(record.AddressRecord.__slots__)
    for index, name in enumerate(record.SAVED_FIELDS):
        value = getattr(rec, name)
        assert saved[index] == (sorted(value) if name in ("services", "users") else value), name


def test_a_saved_record_reads_back_field_by_field():
    rec = _record()
    back = record.AddressRecord.from_list(rec.to_list())
    for name in record.SAVED_FIELDS:
        want, got = getattr(rec, name), getattr(back, name)
        assert (sorted(got) if name == "users" else got) == (sorted(want) if name == "users" else want), name


def test_a_saved_record_whose_first_failure_is_after_its_last_reads_back_ordered():
    """The tracker keeps first <= last (``_failure`` tests the first failure only for a time that is not the
    latest): a damaged or hand-edited record read back keeps it too."""
    saved = _record().to_list()
    saved[record.SAVED_FIELDS.index("first")] = 3000.0
    back = record.AddressRecord.from_list(saved)
    assert (back.first, back.last) == (2000.0, 2000.0)
