"""Every record builder of parser/lines.py puts each named value in the Record field of that name, and the
fields it does not take hold that daemon's fixed values: swapping two fields cannot pass silently."""

from __future__ import annotations

import inspect
import re

import pytest
from mail_bruteforce_guard.parser import lines
from mail_bruteforce_guard.parser.lines import Record

FIXED = {
    lines._postfix_record: {"service": "postfix", "protocol": "smtp", "session": None, "driver": ""},
    lines._dovecot_record: {"service": "dovecot", "pid": None},
    lines._plesk_record: {
        "kind": lines.PLESK_FAILURE,
        "service": "plesk",
        "protocol": "smtp",
        "ip": None,
        "count": 1,
        "pid": None,
        "session": None,
        "extra": 0,
        "driver": "",
    },
}


@pytest.mark.parametrize("builder", list(FIXED), ids=lambda f: f.__name__)
def test_each_builder_sets_the_fields_it_names(builder):
    params = inspect.signature(builder).parameters
    assert set(params) <= set(Record._fields), "a builder parameter that is no Record field"
    assert set(params) | set(FIXED[builder]) == set(Record._fields), "a field neither taken nor fixed"
    sentinels = {name: object() for name in params}
    positional = [sentinels[n] for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = {n: sentinels[n] for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    record = builder(*positional, **keywords)
    assert isinstance(record, Record) and len(record) == len(Record._fields)
    for name, value in sentinels.items():
        assert getattr(record, name) is value, name
    for name, value in FIXED[builder].items():
        assert getattr(record, name) == value, name


def test_builders_defaults_are_the_records_defaults():
    """A default of a builder (count 1, extra 0 ...) is the Record's own default for that field."""
    for builder in FIXED:
        for name, param in inspect.signature(builder).parameters.items():
            if param.default is not param.empty and name in Record._field_defaults:
                assert param.default == Record._field_defaults[name], (builder.__name__, name)


def test_no_record_is_built_by_position_outside_the_builders():
    source = inspect.getsource(lines)
    assert len(re.findall(r"_new\(\s*Record", source)) == 4  # the four builders, nowhere else
    assert not re.search(r"\bRecord\(\s*when", source)


def test_the_usual_failure_builder_puts_each_group_in_its_field():
    """The fast path's builder (``_usual_failure_record``) names every field as the login summary's reading
    does: a swap of two fields of its tuple cannot pass silently."""
    rec = lines._usual_failure_record("pop3", "3", "17", "alice", "192.0.2.7", "Sess1", 5.0, "mx")
    assert rec._asdict() == {
        "time": 5.0,
        "kind": lines.LOGIN_FAILURE,
        "service": "dovecot",
        "protocol": "pop3",
        "ip": "192.0.2.7",
        "user": "alice",
        "count": 3,
        "pid": None,
        "host": "mx",
        "session": "Sess1",
        "extra": 17,
        "driver": "",
    }
    line = (
        "imap-login: Disconnected (auth failed, 3 attempts in 17 secs): user=<alice>, method=PLAIN,"
        " rip=192.0.2.7, lip=192.0.2.1, TLS, session=<Sess1>"
    )
    assert lines._dovecot(line, 0, 5.0, "mx", usual=False) == rec._replace(protocol="imap")
    assert lines._usual_failure_record("imap", "1", None, "", "192.0.2.7", "S", 5.0, "mx").extra == -1
