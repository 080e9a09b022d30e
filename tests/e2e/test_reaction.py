"""tests/e2e/reaction.py: which failure crosses maxretry, and the measured time (molecule `mail` runs it for
real against the kernel's ban set)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mbg_e2e_reaction", HERE / "reaction.py")
reaction = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reaction)

IP = "10.89.0.25"
T = "2026-12-06T07:10:{:02d}.250000+00:00 mbg-mail1 "
# An attack as Debian 12's Dovecot and Postfix log it (the auth process first, for SMTP AUTH and IMAP alike).
LOG = [
    T.format(1) + f"dovecot: auth: passwd-file(bob@example.com,{IP},<fTTGyvFh>): Password mismatch",
    T.format(2)
    + f"dovecot: imap-login: Disconnected: (auth failed, 1 attempts in 2 secs): user=<bob>, rip={IP}",
    T.format(3)
    + "dovecot: auth: passwd-file(alice@example.com,10.89.0.26): Password mismatch",  # another address
    T.format(4) + f"dovecot: auth: passwd-file(info@example.com,{IP}): unknown user",
    T.format(5) + f"postfix/submission/smtpd[3322]: connect from unknown[{IP}]",
    T.format(6) + f"dovecot: auth: passwd-file(alice@example.com,{IP},<K2PH>): Password mismatch",
    T.format(8)
    + f"postfix/submission/smtpd[3322]: warning: unknown[{IP}]: SASL PLAIN authentication failed: x",
    T.format(9) + f"dovecot: auth: passwd-file(alice@example.com,{IP}): Password mismatch",
]


def test_each_attempt_counts_at_its_first_line():
    found = reaction.crossing(LOG, IP, 3)
    assert found == reaction.Crossing(6, 1796541006.25, 3)  # not the Postfix line that follows it
    assert reaction.crossing(LOG, IP, 4).line == 8
    assert reaction.crossing(LOG, IP, 5) is None
    assert reaction.crossing(LOG, "10.89.0.2", 1) is None  # a prefix of another address is not it


def test_watch_returns_when_the_probe_succeeds_and_gives_up_at_the_timeout():
    assert reaction.watch([sys.executable, "-c", "pass"], timeout=5, every=0.01) is not None
    assert reaction.watch([sys.executable, "-c", "raise SystemExit(1)"], timeout=0.2, every=0.05) is None


def test_measure_prints_the_reaction(tmp_path, capsys):
    log = tmp_path / "mail.log"
    log.write_text("\n".join(LOG) + "\n")
    banned = tmp_path / "banned-at"
    banned.write_text("1796541006.900000\n")
    argv = ["measure", f"--ip={IP}", "--maxretry=3", f"--banned-at={banned}", f"--log={log}"]
    assert reaction.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["crossing_line"], result["reaction_seconds"]) == (6, 0.65)
    assert reaction.main([*argv[:3], f"--banned-at={tmp_path / 'missing'}", argv[4]]) == 1
    assert "no ban time" in capsys.readouterr().err
    assert reaction.main([*argv[:2], "--maxretry=9", *argv[3:]]) == 1
    assert "never reached 9 failures" in capsys.readouterr().err
