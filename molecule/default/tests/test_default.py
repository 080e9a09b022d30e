"""The converged hosts: detector, config, sysctl, units, firewall baseline and a replayed attack."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from conftest import PREFIX, PROJECT, design_config_keys, effective_sysctl

CONFIG = "/etc/mail-bruteforce-guard/config.json"
LAUNCHER = "/usr/local/sbin/mail-bruteforce-guard"
UNITS = {
    "timer": "mail-bruteforce-guard-scan.timer",
    "scan": "mail-bruteforce-guard-scan.service",
    "restore": "mail-bruteforce-guard-restore.service",
    "firewall": "mail-bruteforce-guard-firewall.service",
    "follow": "mail-bruteforce-guard-follow.service",
}
ATTACKER = "203.0.113.7"  # TEST-NET-3: replayed failures from here must end in a ban
WHITELISTED = "198.51.100.9"  # inside mail_bruteforce_guard_ignore (198.51.100.0/24): never banned


def _version() -> str:
    text = (PROJECT / "plugins" / "module_utils" / "version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def _address(host) -> str:
    out = host.check_output("ip -4 -o addr show scope global")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


def _can_connect(address: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


HOLD = 16  # the correlator releases an event 15 s (log time) after it, once later lines cannot merge into it
REPLAYED: dict[str, tuple[float, dict[str, int]]] = {}


def _logged(host, address: str) -> int:
    """How many lines of /var/log/mail.log name ``address`` in Postfix's client field."""
    return int(host.check_output(f"grep -c 'unknown\\[{address}\\]' /var/log/mail.log || true") or 0)


def test_replay_real_attack_lines(host, variables):
    """Real Postfix SMTP AUTH sessions (lines as in the forum thread, with Debian 12's sasl_username), one
    session per attempt, written through rsyslog by logger: the attacker and a whitelisted address each
    fail maxretry + 2 times. The ban check comes later (test_replayed_attack_...) once HOLD has passed."""
    count = variables[PREFIX + "maxretry"] + 2
    before = {address: _logged(host, address) for address in (ATTACKER, WHITELISTED)}
    script = []
    for n, address in enumerate((ATTACKER, WHITELISTED)):
        for attempt in range(count):
            pid = 4200 + 100 * n + attempt
            log = f"logger -p mail.info -t postfix/smtpd --id={pid}"
            script += [
                f"{log} 'connect from unknown[{address}]'",
                f"{log.replace('mail.info', 'mail.warning')} 'warning: unknown[{address}]: SASL LOGIN "
                "authentication failed: authentication failure, sasl_username=alice@example.com'",
                f"{log} 'disconnect from unknown[{address}] ehlo=1 auth=0/1 quit=1 commands=2/3'",
            ]
    host.check_output(" && ".join(script))
    deadline = time.monotonic() + 20
    while any(_logged(host, address) < before[address] + 3 * count for address in before):
        assert time.monotonic() < deadline, "rsyslog did not write the replayed lines"
        time.sleep(0.5)
    REPLAYED[host.backend.name] = (time.monotonic(), before)


def test_detector_installed_and_runs(host):
    launcher = host.file(LAUNCHER)
    assert launcher.mode == 0o755
    assert launcher.content_string.startswith("#!/usr/bin/python3")
    assert host.check_output(f"{LAUNCHER} --version").split()[-1] == _version()
    assert host.file("/var/lib/mail-bruteforce-guard").mode == 0o700


def test_config_matches_variables(host, variables):
    config = json.loads(host.file(CONFIG).content_string)
    assert set(config) == design_config_keys()
    for key, value in config.items():
        if key == "logs":
            # Detected: prepare.yml made rsyslog create the Debian mail log, no Plesk log exists.
            assert value == ["/var/log/mail.log"]
        elif key == "journal":
            assert value is False
        elif key == "protected":
            # The podman connection has no SSH client address to add.
            assert value == variables[PREFIX + "protected"]
        else:
            assert value == variables[PREFIX + key], key


def test_sysctl_values_live_and_persisted(host, variables):
    wanted = effective_sysctl(variables)
    assert "net.ipv4.conf.all.log_martians" not in wanted  # removed by a null override
    persisted = host.file("/etc/sysctl.d/90-mail-bruteforce-guard.conf").content_string
    for key, value in wanted.items():
        assert f"\n{key} = {value}\n" in persisted
        assert host.check_output(f"sysctl -n {key}") == value, key
    assert "log_martians" not in persisted


def test_units_enabled_and_active(host):
    for name in ("timer", "restore"):
        service = host.service(UNITS[name])
        assert service.is_enabled, UNITS[name]
        assert service.is_running or host.run(f"systemctl is-active {UNITS[name]}").stdout.strip() == "active"
    timer = host.file(f"/etc/systemd/system/{UNITS['timer']}").content_string
    assert "OnCalendar=minutely" in timer and "Persistent=true" in timer
    # The lockdown is opt-in: by default there is no lockdown unit.
    assert not host.file(f"/etc/systemd/system/{UNITS['firewall']}").exists


def test_the_timer_engine_leaves_the_follow_daemon_installed_but_off(host):
    """vars.yml picks mail_bruteforce_guard_engine: timer; molecule/mail runs the daemon."""
    unit = host.file(f"/etc/systemd/system/{UNITS['follow']}").content_string
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "Restart=on-failure" in unit
    assert host.run(f"systemctl is-enabled {UNITS['follow']}").stdout.strip() == "disabled"
    assert host.run(f"systemctl is-active {UNITS['follow']}").stdout.strip() == "inactive"


def test_timer_fires_the_sandboxed_scan(host):
    deadline = time.monotonic() + 75
    while True:
        fired = host.check_output(f"systemctl show {UNITS['timer']} -p LastTriggerUSec --value")
        if fired not in ("", "n/a", "0"):
            break
        assert time.monotonic() < deadline, "the scan timer did not fire within 75 s"
        time.sleep(3)
    shown = host.check_output(f"systemctl show {UNITS['scan']} -p Result -p ExecMainStatus -p ProtectSystem")
    assert "Result=success" in shown and "ExecMainStatus=0" in shown and "ProtectSystem=strict" in shown


@pytest.mark.parametrize("unit", ["scan", "restore", "follow"])
def test_units_are_sandboxed(host, unit):
    """systemd's own exposure score (fail2ban.service from Debian 12 scores 9.6 UNSAFE)."""
    out = host.check_output(f"systemd-analyze security {UNITS[unit]} 2>&1 | tail -n 1")
    score = float(re.search(r"exposure level for \S+: (\d+\.\d+)", out).group(1))
    assert score <= 2.0, out


def test_ban_sets_exist(host, variables):
    for name, family in ((variables[PREFIX + "ipset_v4"], "inet"), (variables[PREFIX + "ipset_v6"], "inet6")):
        header = host.check_output(f"ipset list -t {name}")
        assert "Type: hash:net" in header
        assert f"family {family} " in header and "timeout 0" in header


@pytest.mark.parametrize("tool", ["iptables", "ip6tables"])
def test_ban_hook_is_one_jump_at_the_top_of_input(host, tool, variables):
    """The library's hook: INPUT keeps its policy and gets exactly one jump, at position 1, to MBG-BAN, which
    drops banned sources on the mail ports only (ban scope mail, the default)."""
    rules = host.check_output(f"{tool} -w -S").splitlines()
    assert "-P INPUT ACCEPT" in rules
    inp = [rule for rule in rules if rule.startswith("-A INPUT ")]
    assert inp == ["-A INPUT -j MBG-BAN"]
    own = [rule for rule in rules if rule.startswith("-A MBG-BAN ")]
    set_name = variables[PREFIX + ("ipset_v4" if tool == "iptables" else "ipset_v6")]
    drops = [rule for rule in own if f"--match-set {set_name} src" in rule and rule.endswith("-j DROP")]
    assert drops and all("--dports 25,465,587,110,995,143,993,4190" in rule for rule in drops), own


def test_network_reachability_with_the_ban_hook(host):
    """From this machine over the podman bridge: without a lockdown everything that listens answers; a banned
    source loses the mail ports only (ban scope mail) and keeps SSH and the web ports."""
    address = _address(host)
    for port in (22, 25, 8443, 8080):
        host.run(f"systemctl stop mbg-test-listen-{port}.service")
        host.check_output(
            f"systemd-run --unit=mbg-test-listen-{port} /usr/bin/python3 -m http.server --bind 0.0.0.0 {port}"
        )
    try:
        deadline = time.monotonic() + 15
        while not host.socket("tcp://0.0.0.0:8080").is_listening:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        for port in (22, 25, 8443, 8080):
            assert _can_connect(address, port), port
        me = host.check_output("ip route show default").split()[2]
        host.check_output(f"{LAUNCHER} ban {me} --duration 60 --reason molecule-test")
        try:
            assert not _can_connect(address, 25), "a banned source still reached the mail port"
            assert _can_connect(address, 22), "a ban cut the SSH port"
            assert _can_connect(address, 8080), "ban scope mail cut a web port"
        finally:
            host.check_output(f"{LAUNCHER} unban {me}")
        assert _can_connect(address, 25)
    finally:
        for port in (22, 25, 8443, 8080):
            host.run(f"systemctl stop mbg-test-listen-{port}.service")


def test_replayed_attack_is_banned_and_ignored_network_is_not(host, variables):
    replayed_at, _ = REPLAYED[host.backend.name]
    time.sleep(max(0.0, replayed_at + HOLD - time.monotonic()))
    v4 = variables[PREFIX + "ipset_v4"]
    host.check_output(f"systemctl start {UNITS['scan']}")  # or the timer's own run, whichever comes first
    assert host.run(f"ipset test {v4} {ATTACKER}").rc == 0, "the attacker was not banned"
    assert host.run(f"ipset test {v4} {WHITELISTED}").rc != 0, "an ignored address was banned"
    status = json.dumps(json.loads(host.check_output(f"{LAUNCHER} status --json --config {CONFIG}")))
    assert ATTACKER in status and WHITELISTED not in status
    report = json.loads(host.check_output(f"{LAUNCHER} report --json --config {CONFIG}"))
    decisions = {offender["ip"]: offender["decision"] for offender in report["offenders"]}
    assert decisions.get(ATTACKER) == "ban" and decisions.get(WHITELISTED) == "ignored"


def test_hook_heals_after_another_tool_removed_it(host, variables):
    """A reload of another tool that drops our jump: the next scan puts it back at position 1 (and logs it),
    without touching the rule that tool inserted; the bans stay."""
    v4 = variables[PREFIX + "ipset_v4"]
    assert host.run(f"ipset test {v4} {ATTACKER}").rc == 0
    host.check_output("iptables -w -D INPUT -j MBG-BAN && iptables -w -I INPUT -p udp --dport 9 -j ACCEPT")
    try:
        host.check_output(f"systemctl start {UNITS['scan']}")
        inp = host.check_output("iptables -w -S INPUT").splitlines()
        assert inp[1] == "-A INPUT -j MBG-BAN" and inp.count("-A INPUT -j MBG-BAN") == 1, inp
        assert "-A INPUT -p udp -m udp --dport 9 -j ACCEPT" in inp
        assert host.run(f"ipset test {v4} {ATTACKER}").rc == 0, "healing the hook dropped a ban"
        assert "hook re-attached" in host.check_output("journalctl -q --no-pager | tail -n 200")
    finally:
        host.run("iptables -w -D INPUT -p udp --dport 9 -j ACCEPT")


def test_every_library_module_has_its_bytecode(host):
    """The sandboxed scan cannot write bytecode: every module of the library, the ones imported only when
    needed (the firewall layer) included, was compiled at deploy."""
    lib = "/usr/local/lib/mail-bruteforce-guard/mail_bruteforce_guard"
    tag = host.check_output("/usr/bin/python3 -I -c 'import sys; print(sys.implementation.cache_tag)'")
    sources = host.check_output(f"find {lib} -name '*.py' -printf '%P\\n'").split()
    assert "firewall/enforce.py" in sources
    for source in sources:
        folder, _, name = source.rpartition("/")
        cached = f"{lib}/{folder + '/' if folder else ''}__pycache__/{name[:-3]}.{tag}.pyc"
        assert host.file(cached).exists, cached
