"""The guard next to ufw + fail2ban and next to an nftables.service ruleset, with real traffic from a client
and an attacker container. The tests run in file order: each step builds on the one before (converge happened
before verify; the attack, then the reloads, then --check, then port 25, then uninstall)."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import (
    ATTACKER,
    CLIENT,
    FACTS,
    HOLD,
    HOSTS,
    LAUNCHER,
    NFT,
    SCAN_INTERVAL,
    SCENARIO,
    SCRIPTS,
    SNAPSHOT,
    UFW,
    address,
    banned,
    input_chain,
    ours,
    probe,
    sh,
    status,
    without_table,
)
from scenario_run import changed_tasks, playbook

WEB = [80, 443, 8443]
DENIED = 8080  # ufw deny / not in the nftables ruleset's allow-list
MAIL = [587, 143]
TABLE = "inet mail_bruteforce_guard"
COUNTERS = re.compile(r"counter packets \d+ bytes \d+ ?")
F2B_TEST_BAN = "192.0.2.8"  # TEST-NET-1: no container has it


def _own_rules_unchanged(host: str) -> None:
    """The host's own firewall is as prepare.yml left it, apart from the project's own objects."""
    for tool in ("iptables", "ip6tables"):
        before = sh(host, f"cat {SNAPSHOT}/{tool}").stdout.splitlines()
        now = [rule for rule in sh(host, f"{tool} -w -S").stdout.splitlines() if not ours(rule)]
        # fail2ban creates its chain and INPUT jump at its first ban (the f2b test adds one): not ours either.
        now = [rule for rule in now if "f2b-" not in rule]
        assert now == before, f"{host}: {tool} rules of other tools changed"
    before = without_table(sh(host, f"cat {SNAPSHOT}/nft").stdout, TABLE)
    now = without_table(sh(host, "nft list ruleset").stdout, TABLE)
    if host in NFT:
        assert now == before, f"{host}: the host's own nftables ruleset changed"


def _hook_below_fail2ban_only(host: str) -> list[str]:
    """One jump to MBG-BAN in INPUT of both families, with only fail2ban's jumps (if any) above it: they
    reject or return, so nothing above ours lets a banned address in. INPUT of iptables, in order."""
    for tool in ("iptables", "ip6tables"):
        rules = input_chain(host, tool)
        assert rules.count("-A INPUT -j MBG-BAN") == 1, (host, tool, rules)
        above = rules[: rules.index("-A INPUT -j MBG-BAN")]
        assert all(" -j f2b-" in rule for rule in above), (host, tool, rules)
    return input_chain(host)


def test_converged_with_the_ban_hook_on_the_backend_that_fits():
    for host in HOSTS:
        fw = status(host)["firewall"]
        assert fw["hook"] == "attached", (host, fw)
        assert fw["backend"] == ("nftables" if host in NFT else "iptables"), (host, fw)
        if fw["backend"] == "iptables":
            _hook_below_fail2ban_only(host)
        else:
            assert sh(host, f"nft list table {TABLE}", check=False).returncode == 0, host


def test_other_tools_found_and_reported():
    for host in UFW:
        tools = {tool["name"]: tool for tool in status(host)["firewall"]["tools"]}
        assert tools.get("ufw", {}).get("active"), (host, tools)
        assert tools.get("fail2ban", {}).get("active"), (host, tools)
    for host in NFT:
        tools = {tool["name"]: tool for tool in status(host)["firewall"]["tools"]}
        assert tools.get("nftables", {}).get("active"), (host, tools)


def test_own_rules_of_ufw_fail2ban_and_nftables_unchanged():
    for host in HOSTS:
        _own_rules_unchanged(host)
    for host in UFW:
        assert "Status: active" in sh(host, "ufw status").stdout
        jails = sh(host, "fail2ban-client status").stdout
        assert "postfix" in jails and "sshd" in jails


def test_websites_answer_and_the_hosts_deny_still_denies():
    states = probe(CLIENT, HOSTS, [*WEB, DENIED])
    for host in HOSTS:
        for port in WEB:
            assert states[host, port] == "open", (host, port, states[host, port])
        assert states[host, DENIED] == "blocked", (host, DENIED, states[host, DENIED])


ATTACKED: dict[str, float] = {}


@pytest.mark.timeout(900)
def test_attack_and_client_traffic():
    """Real wrong-password SMTP AUTH and IMAP logins from the attacker; the client sends and reads mail."""
    argv = ["python3", f"{SCRIPTS}/attack.py", "attack", "--smtp", str(FACTS["mbg_e2e_attack_smtp"])]
    argv += ["--imap", str(FACTS["mbg_e2e_attack_imap"])] + [f"--target={h}" for h in HOSTS]
    argv += [f"--user={u}" for u in FACTS["mbg_e2e_attack_users"]]
    run = sh(ATTACKER, " ".join(argv), timeout=300)
    assert json.loads(run.stdout)
    ATTACKED["at"] = time.monotonic()
    _client_round_trip()


def _client_round_trip() -> None:
    alice, bob = FACTS["mbg_e2e_users"][:2]
    for host in HOSTS:
        sh(
            CLIENT,
            f"python3 {SCRIPTS}/client.py --target={host} --user={alice['name']}"
            f" --password={alice['password']} --to={bob['name']} --to-password={bob['password']}",
            timeout=120,
        )


def _wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(3)


@pytest.mark.timeout(900)
def test_attacker_banned_client_not():
    attacker, client = address(ATTACKER), address(CLIENT)
    _wait_until(lambda: all(banned(h, attacker) for h in HOSTS), SCAN_INTERVAL + HOLD + 30, "attacker banned")
    states = probe(ATTACKER, HOSTS, MAIL)
    assert set(states.values()) == {"blocked"}, states
    assert not any(banned(h, client) for h in HOSTS)
    assert set(probe(CLIENT, HOSTS, MAIL).values()) == {"open"}
    _client_round_trip()
    # ban scope mail (the default): the attacker still reaches the websites.
    assert set(probe(ATTACKER, HOSTS, WEB).values()) == {"open"}


@pytest.mark.timeout(900)
def test_ban_holds_after_the_other_tools_reload():
    """ufw reload, fail2ban restart, nftables restart (flush ruleset: our table goes too): within one scan
    interval the hook is back and the attacker is cut off again."""
    for host in UFW:
        sh(host, "ufw reload && systemctl restart fail2ban")
    for host in NFT:
        # The restart's flush ruleset really removed the table (what the next scan must heal); checked in the
        # same breath, before a scan can run.
        gone = sh(
            host, f"systemctl restart nftables && ! nft list table {TABLE} >/dev/null 2>&1", check=False
        )
        assert gone.returncode == 0, f"{host}: our table survived systemctl restart nftables"
    reloaded = time.monotonic()

    def cut_off() -> bool:
        return set(probe(ATTACKER, HOSTS, MAIL, timeout=2).values()) == {"blocked"}

    _wait_until(cut_off, SCAN_INTERVAL + 20, "ban back after the reloads")
    print(f"ban back {time.monotonic() - reloaded:.0f} s after the reloads")
    for host in HOSTS:
        assert status(host)["firewall"]["hook"] == "attached", host
    for host in NFT:
        logged = sh(host, "journalctl -q --no-pager | grep -c 'hook re-attached' || true")
        assert int(logged.stdout.strip() or 0) >= 1, f"{host}: no 'hook re-attached' log line"
    assert set(probe(CLIENT, HOSTS, [*MAIL, *WEB]).values()) == {"open"}
    for host in HOSTS:
        _own_rules_unchanged(host)


@pytest.mark.timeout(900)
def test_check_mode_on_the_converged_host_changes_nothing():
    """After `ufw reload` and `systemctl restart fail2ban` (the test above), and a fail2ban jail's first ban
    (here), a --check run straight away reports no change. fail2ban inserts its jump at INPUT 1 whenever it
    starts a jail: ours stays below it and still counts as attached, no scan moves it back. ufw's reload
    writes its own sysctl values: the keys it sets are left to it."""
    for host in UFW:  # a documentation address: a jail with no ban yet adds its chain and INPUT jump now
        sh(host, f"fail2ban-client set sshd banip {F2B_TEST_BAN}")
    try:
        orders = {}
        for host in UFW:
            orders[host] = _hook_below_fail2ban_only(host)
            assert any(" -j f2b-" in rule for rule in orders[host]), (host, orders[host])
            assert orders[host].index("-A INPUT -j MBG-BAN") > 0, (host, orders[host])
        for host in HOSTS:
            assert status(host)["firewall"]["hook"] == "attached", host
        # `ufw reload` (above) applied ufw's sysctl file again: its log_martians=0 is left to ufw.
        for host in UFW:
            assert sh(host, "sysctl -n net.ipv4.conf.all.log_martians").stdout.strip() == "0", host
        rc, out, recap = playbook(SCENARIO / "converge.yml", "--check", "--diff")
        assert rc == 0, out[-4000:]
        for host in HOSTS:
            assert recap[host][:3] == ("0", "0", "0"), f"{host}: {recap[host]}: {changed_tasks(out)}"
        flat = " ".join(out.split())
        said = "sysctl: ufw sets net.ipv4.conf.all.log_martians=0 at every start and reload; left to ufw"
        assert said in flat, out[-4000:]
        for host in UFW:  # a scan leaves INPUT as it is: no fight with fail2ban for position 1
            sh(host, "systemctl start mail-bruteforce-guard-scan.service")
            assert input_chain(host) == orders[host], host
    finally:
        for host in UFW:
            sh(host, f"fail2ban-client set sshd unbanip {F2B_TEST_BAN}", check=False)


def test_hundred_connections_a_minute_to_port_25_from_one_address():
    """Big senders: no SYN limit on port 25 by default. 100 SMTP sessions (banner, QUIT) from the client."""
    script = (
        "import smtplib, sys, json\n"
        "ok = 0\n"
        "for n in range(100):\n"
        "    try:\n"
        "        s = smtplib.SMTP(sys.argv[1], 25, local_hostname='big-sender.invalid', timeout=5)\n"
        "        s.quit(); ok += 1\n"
        "    except Exception as exc:\n"
        "        print(repr(exc), file=sys.stderr)\n"
        "print(ok)\n"
    )
    for host in (UFW[0], NFT[-1]):
        started = time.monotonic()
        run = sh(CLIENT, f'python3 -c "{script}" {host}', timeout=120)
        took = time.monotonic() - started
        assert took < 60, f"100 connections took {took:.0f} s"
        assert run.stdout.strip() == "100", f"{host}: {run.stdout} {run.stderr[-1500:]}"
    assert not any(banned(h, address(CLIENT)) for h in HOSTS)


def test_fail2ban_rules_still_in_effect():
    client = address(CLIENT)
    host = UFW[0]
    sh(host, f"fail2ban-client set postfix banip {client}")
    try:
        assert probe(CLIENT, [host], [587])[host, 587] in ("refused", "blocked")
    finally:
        sh(host, f"fail2ban-client set postfix unbanip {client}")
    assert probe(CLIENT, [host], [587])[host, 587] == "open"


@pytest.mark.timeout(900)
def test_lockdown_refused_next_to_ufw_and_on_listening_web_ports():
    """ufw hosts: refused because ufw is active; nftables hosts: because it would cut the web server. Nothing
    changes on either."""

    def firewall(host: str) -> tuple[list[str], str]:
        # Everything but our own objects and fail2ban's own bans, which come and go on their own; our set
        # elements count down ("expires 59m12s").
        # On the iptables hosts nft's listing shows the same iptables-nft rules again (ours among them, with
        # counters): their iptables dump is compared; on the nftables hosts, their ruleset without our table.
        rules = [
            r
            for r in sh(host, "iptables -w -S; ip6tables -w -S").stdout.splitlines()
            if not ours(r) and "f2b-" not in r
        ]
        ruleset = (
            "" if host in UFW else COUNTERS.sub("", without_table(sh(host, "nft list ruleset").stdout, TABLE))
        )
        return rules, ruleset

    before = {host: firewall(host) for host in HOSTS}
    rc, out, recap = playbook(SCENARIO / "converge.yml", "-e", "mail_bruteforce_guard_firewall_lockdown=true")
    assert rc != 0
    flat = " ".join(out.split())  # the callback wraps long messages
    assert "mail_bruteforce_guard_firewall_lockdown: refused, ufw is active" in flat, out[-4000:]
    assert (
        "lockdown would cut python3 on tcp/80, python3 on tcp/443, python3 on tcp/8080, python3 on tcp/8443"
        in flat
    ), out[-4000:]
    for host in HOSTS:
        assert recap[host][0] == "0", host
        assert firewall(host) == before[host], host


@pytest.mark.timeout(900)
@pytest.mark.parametrize("round_", [1, 2])
def test_uninstall_leaves_the_other_tools_rules(round_):
    rc, out, recap = playbook(SCENARIO / "converge.yml", "-e", "mail_bruteforce_guard_state=absent")
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        if round_ == 2:
            assert recap[host][:3] == ("0", "0", "0"), f"second uninstall changed {host}: {recap[host]}"
        assert "MBG-" not in sh(host, "iptables-save; ip6tables-save").stdout
        assert "mail_bruteforce_guard" not in sh(host, "nft list ruleset").stdout
        assert "mbg_" not in sh(host, "ipset list -n").stdout
        assert "mail-bruteforce-guard" not in sh(host, "systemctl list-unit-files --no-legend").stdout
        assert sh(host, f"test -e {LAUNCHER}", check=False).returncode != 0
        _own_rules_unchanged(host)
    assert set(probe(CLIENT, HOSTS, [*WEB, *MAIL]).values()) == {"open"}
