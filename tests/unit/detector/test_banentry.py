"""BanEntry (a state ban in slots): reads and writes as the dict state.json holds, saves as its very text."""

from __future__ import annotations

import json

import pytest
from mail_bruteforce_guard.detector import state as state_module
from mail_bruteforce_guard.detector.banentry import BanEntry
from mail_bruteforce_guard.detector.state import StateDir, empty_state, json_pieces

NOW = 1_790_000_000.0


def entry(i: int = 0, enforced: bool = False) -> tuple[BanEntry, dict]:
    args = (
        NOW + 600 + i,
        f'5 failures in 4m (dovecot); users u{i}@example.com \u00e9"',
        1 + i % 3,
        NOW,
        enforced,
    )
    return BanEntry(*args), dict(zip(("until", "reason", "count", "since", "enforced"), args))


def test_reads_and_writes_as_its_dict():
    ban, plain = entry()
    assert ban == plain and plain == ban
    assert list(ban) == list(plain) and list(ban.items()) == list(plain.items()) and len(ban) == 5
    assert ban["until"] == plain["until"] and ban.get("reason") == plain["reason"]
    assert ban.get("nope", 7) == 7 and "nope" not in ban and "count" in ban
    with pytest.raises(KeyError):
        ban["nope"]
    ban["enforced"] = True
    plain["enforced"] = True
    ban["extra"] = [1]  # another key (none is written today) keeps the mapping a dict's
    plain["extra"] = [1]
    assert ban == plain and list(ban) == list(plain)
    del ban["count"]
    del plain["count"]
    assert ban == plain and ban.get("count", 0) == 0 and len(ban) == len(plain)
    assert json.loads(json.dumps(ban.as_dict())) == plain
    with pytest.raises(KeyError):
        del ban["count"]


@pytest.mark.parametrize("count", [1, 3, 10])
def test_a_state_of_ban_entries_is_written_as_the_same_bytes_as_its_dicts(monkeypatch, count):
    """save() writes BanEntries in the pieces of a large section and inside a small one alike."""
    monkeypatch.setattr(state_module, "PIECE_ENTRIES", 4)
    compact, plain = empty_state(), empty_state()
    for i in range(count):
        ban, as_dict = entry(i, enforced=i % 2 == 0)
        compact["bans"][f"192.0.2.{i}"] = ban
        plain["bans"][f"192.0.2.{i}"] = as_dict
    text = "".join(json_pieces(compact))
    assert text == json.dumps(plain, separators=(",", ":"), ensure_ascii=True)


def test_saved_and_loaded_back_as_plain_dicts(tmp_path):
    store = StateDir(str(tmp_path))
    state = empty_state()
    ban, plain = entry()
    state["bans"]["192.0.2.1"] = ban
    store.save(state)
    loaded = store.load()
    assert loaded["bans"] == {"192.0.2.1": plain}
    assert not isinstance(loaded["bans"]["192.0.2.1"], BanEntry)  # the file's own shape


def test_pending_bans_and_marks_read_ban_entries_as_their_dicts():
    """``api._unexpired`` and ``api._mark_enforced`` read a full BanEntry by its attributes: the same Bans and
    the same marks as on the plain dicts (and on entries with a deleted field or another key)."""
    from mail_bruteforce_guard.detector import api

    def section(compact: bool) -> dict:
        bans = {}
        for i in range(8):
            ban, plain = entry(i - 3, enforced=i % 3 == 0)
            bans[f"192.0.2.{i}"] = ban if compact else plain
        for key in ("192.0.2.4", "192.0.2.5"):
            del bans[key]["enforced"]
        bans["192.0.2.6"]["other"] = 1
        bans["192.0.2.7"]["reason"] = None
        return bans

    compact, plain = section(True), section(False)
    for now in (NOW, NOW + 599, NOW + 601, NOW + 700):
        for pending in (False, True):
            assert api._unexpired(compact, now, pending) == api._unexpired(plain, now, pending)
    bans = api._unexpired(compact, NOW)
    api._mark_enforced(compact, {}, bans[::2])
    api._mark_enforced(plain, {}, bans[::2])
    assert {k: dict(v.items()) for k, v in compact.items()} == plain
