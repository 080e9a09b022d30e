"""After test_default and test_check_mode (file order): uninstall (check mode, real, twice), monitor mode
leaves every firewall dump as it was, enforce again, and the opt-in lockdown - refused before any change
while a listening port is not allowed, laid when it is, taken down again. Each step is one
ansible-playbook run, limited to the Debian 12 host (the role's code is the same on all three, and nine
converges of three hosts cost CI more than they prove)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import SCENARIO
from scenario_run import playbook
from test_default import LAUNCHER, _can_connect

COUNTERS = re.compile(r"\[\d+:\d+\]")
LISTEN_PORT = 8081  # a service the lockdown's allow-list does not know
OTHER_PORT = 8082  # started after the lockdown: must be cut
HOSTS = ("mbg-default-deb12",)  # the hosts these steps converge (see the module docstring)


def _converge(*extra: str) -> tuple[int, str, dict[str, tuple[str, ...]]]:
    """converge.yml plus ``extra`` on HOSTS: rc, plain output, {host: (changed, unreachable, failed)}."""
    return playbook(SCENARIO / "converge.yml", "--limit", ",".join(HOSTS), *extra)


def _vars(**values) -> list[str]:
    return ["-e", json.dumps({f"mail_bruteforce_guard_{k}": v for k, v in values.items()})]


def _exec(host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", "exec", host, "sh", "-c", command], capture_output=True, text=True, timeout=60, check=check
    )


def _dumps(host: str) -> dict[str, str]:
    """The firewall as text. iptables-save's '#' lines (date) and packet counters change on their own."""
    out = {}
    for tool in ("iptables-save", "ip6tables-save"):
        text = _exec(host, tool).stdout
        out[tool] = COUNTERS.sub(
            "[0:0]", "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        )
    out["ipset list -n"] = _exec(host, "ipset list -n").stdout
    out["nft list ruleset"] = _exec(host, "command -v nft >/dev/null && nft list ruleset || true").stdout
    return out


def _nothing_left(host: str) -> None:
    dumps = _dumps(host)
    assert "MBG-" not in dumps["iptables-save"] + dumps["ip6tables-save"], host
    assert "mbg" not in dumps["iptables-save"] + dumps["ip6tables-save"], host
    assert "mbg_ban" not in dumps["ipset list -n"], host
    assert "mail_bruteforce_guard" not in dumps["nft list ruleset"], host
    units = _exec(host, "systemctl list-unit-files --no-legend").stdout
    assert "mail-bruteforce-guard" not in units, host
    for path in (
        LAUNCHER,
        "/usr/local/lib/mail-bruteforce-guard",
        "/etc/mail-bruteforce-guard",
        "/etc/sysctl.d/90-mail-bruteforce-guard.conf",
    ):
        assert _exec(host, f"test -e {path}", check=False).returncode != 0, (host, path)
    assert _exec(host, "test -d /var/lib/mail-bruteforce-guard", check=False).returncode == 0, (
        "state dir kept"
    )


def _hook(host: str) -> str:
    out = _exec(host, f"{LAUNCHER} status --json --config /etc/mail-bruteforce-guard/config.json").stdout
    return json.loads(out)["firewall"]["hook"]


@pytest.mark.timeout(900)
def test_uninstall_in_check_mode_changes_nothing():
    before = {host: _dumps(host) for host in HOSTS}
    rc, out, _ = _converge("--check", *_vars(state="absent"))
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        assert _dumps(host) == before[host], host
        assert _exec(host, f"test -x {LAUNCHER}", check=False).returncode == 0, host


@pytest.mark.timeout(900)
@pytest.mark.parametrize("round_", [1, 2])
def test_uninstall_removes_everything_and_is_idempotent(round_):
    rc, out, recap = _converge(*_vars(state="absent"))
    assert rc == 0, out[-4000:]
    flat = " ".join(out.split())  # the callback wraps long messages
    assert "sysctl values" in flat and "until the next boot" in flat, out[-3000:]
    for host in HOSTS:
        if round_ == 2:
            assert recap[host] == ("0", "0", "0"), (
                f"{host}: the second uninstall changed something\n{out[-4000:]}"
            )
        _nothing_left(host)


@pytest.mark.timeout(900)
def test_monitor_mode_changes_no_firewall_state():
    before = {host: _dumps(host) for host in HOSTS}
    rc, out, _ = _converge(*_vars(mode="monitor"))
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        assert _dumps(host) == before[host], f"{host}: monitor mode changed the firewall"
        assert _hook(host) == "monitor"
        # A scan in monitor mode does not touch it either.
        _exec(host, "systemctl start mail-bruteforce-guard-scan.service")
        assert _dumps(host) == before[host], f"{host}: a monitor scan changed the firewall"


@pytest.mark.timeout(900)
def test_enforce_again_attaches_the_hook():
    rc, out, _ = _converge()
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        assert _hook(host) == "attached", host
        for tool in ("iptables", "ip6tables"):
            rules = _exec(host, f"{tool} -w -S INPUT").stdout.splitlines()
            assert rules[0] == "-P INPUT ACCEPT" and rules[1] == "-A INPUT -j MBG-BAN", (host, tool, rules)


def _listen(port: int) -> None:
    for host in HOSTS:
        _exec(host, f"systemctl stop mbg-test-listen-{port}.service 2>/dev/null; true")
        _exec(
            host,
            f"systemd-run --unit=mbg-test-listen-{port} python3 -m http.server --bind 0.0.0.0 {port}",
        )
    for host in HOSTS:
        _exec(host, f"timeout 15 sh -c 'until ss -Hltn | grep -q :{port}; do sleep 0.3; done'")


@pytest.mark.timeout(900)
def test_lockdown_refuses_before_any_change_naming_port_and_process():
    _listen(LISTEN_PORT)
    before = {host: _dumps(host) for host in HOSTS}
    config = {host: _exec(host, "cat /etc/mail-bruteforce-guard/config.json").stdout for host in HOSTS}
    rc, out, recap = _converge(*_vars(firewall_lockdown=True))
    assert rc != 0
    flat = " ".join(out.split())  # the callback wraps long messages
    assert f"lockdown would cut python3 on tcp/{LISTEN_PORT}" in flat, out[-4000:]
    assert "mail_bruteforce_guard_firewall_extra_ports" in flat
    for host in HOSTS:
        assert recap[host][0] == "0", f"{host} changed before the refusal"
        assert _dumps(host) == before[host], host
        assert _exec(host, "cat /etc/mail-bruteforce-guard/config.json").stdout == config[host]


LOCKDOWN = {
    "firewall_lockdown": True,
    "firewall_extra_ports": [
        {"port": 8443},
        {"port": "9000:9001", "proto": "udp", "source": "192.0.2.0/24"},
        {"port": LISTEN_PORT},
    ],
}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("round_", [1, 2])
def test_lockdown_with_the_port_allowed(round_):
    rc, out, recap = _converge(*_vars(**LOCKDOWN))
    assert rc == 0, out[-4000:]
    if round_ == 2:
        for host in HOSTS:
            assert recap[host] == ("0", "0", "0"), f"{host}: lockdown not idempotent\n{out[-4000:]}"
        return
    _listen(OTHER_PORT)
    for host in HOSTS:
        for tool in ("iptables", "ip6tables"):
            rules = _exec(host, f"{tool} -w -S INPUT").stdout.splitlines()
            assert rules[0] == "-P INPUT ACCEPT", (host, tool)  # the policy is never changed
            assert rules[1] == "-A INPUT -j MBG-BAN" and rules[-1] == "-A INPUT -j MBG-LOCKDOWN", (
                host,
                rules,
            )
        address = _address_of(host)
        assert _can_connect(address, LISTEN_PORT), f"{host}: the allowed port does not answer"
        assert not _can_connect(address, OTHER_PORT), f"{host}: the lockdown let an unlisted port through"
    # Round 2's pre-flight would (rightly) refuse the lockdown for this new listener: stop it.
    for host in HOSTS:
        _exec(host, f"systemctl stop mbg-test-listen-{OTHER_PORT}.service")


def _address_of(host: str) -> str:
    out = _exec(host, "ip -4 -o addr show scope global").stdout
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


@pytest.mark.timeout(900)
def test_lockdown_off_again_takes_it_down():
    _listen(OTHER_PORT)
    rc, out, _ = _converge()
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        for tool in ("iptables-save", "ip6tables-save"):
            assert "MBG-LOCKDOWN" not in _exec(host, tool).stdout, host
        assert _can_connect(_address_of(host), OTHER_PORT), (
            f"{host}: still cut after the lockdown was removed"
        )
        assert _hook(host) == "attached"
        for port in (LISTEN_PORT, OTHER_PORT):
            _exec(host, f"systemctl stop mbg-test-listen-{port}.service 2>/dev/null; true")


OLD_BASELINE = """*filter
:INPUT DROP [0:0]
:MBG-INPUT - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22 -m comment --comment "mbg ssh" -j ACCEPT
-A INPUT -j MBG-INPUT
-A MBG-INPUT -p tcp -m multiport --dports 25 -m comment --comment "mbg mail" -j ACCEPT
COMMIT
"""


@pytest.mark.timeout(900)
def test_baseline_of_an_earlier_release_is_taken_down():
    """What releases before the lockdown left (INPUT flushed into MBG-INPUT, policy DROP) is undone: policy
    back to ACCEPT, its rules and chain gone; rules another tool added since then stay."""
    for host in HOSTS:
        for tool in ("iptables", "ip6tables"):
            subprocess.run(
                ["podman", "exec", "-i", host, f"{tool}-restore", "--noflush"],
                input=OLD_BASELINE,
                text=True,
                check=True,
                timeout=60,
            )
            _exec(host, f"{tool} -w -A INPUT -p udp --dport 9 -j ACCEPT")
    rc, out, _ = _converge()
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        for tool in ("iptables", "ip6tables"):
            rules = _exec(host, f"{tool} -w -S").stdout
            assert "-P INPUT ACCEPT" in rules and "MBG-INPUT" not in rules and '"mbg ' not in rules, (
                host,
                rules,
            )
            assert "-A INPUT -p udp -m udp --dport 9 -j ACCEPT" in rules, (host, "another tool's rule went")
            assert "-A INPUT -j MBG-BAN" in rules
            _exec(host, f"{tool} -w -D INPUT -p udp --dport 9 -j ACCEPT")
