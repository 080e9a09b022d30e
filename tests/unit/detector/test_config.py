"""Config file: defaults, DESIGN.md keys, one-line errors naming the key."""

from __future__ import annotations

import json

import pytest
from mail_bruteforce_guard.detector.config import DEFAULTS, load_config
from mail_bruteforce_guard.errors import ConfigError

DESIGN_EXAMPLE = {
    "mode": "enforce",
    "logs": ["/var/log/mail.log"],
    "journal": False,
    "maxretry": 5,
    "findtime": 600,
    "bantime": 3600,
    "bantime_multiplier": 2,
    "bantime_max": 604800,
    "slow_maxretry": 20,
    "slow_findtime": 86400,
    "targeted_min_ips": 5,
    "targeted_findtime": 3600,
    "compromised_min_failures": 3,
    "ipv6_prefix": 128,
    "ignore": ["10.0.0.0/8"],
    "protected": ["192.0.2.10"],
    "firewall_backend": "auto",
    "ipset_v4": "mbg_ban_v4",
    "ipset_v6": "mbg_ban_v6",
    "ipset_maxelem": 1048576,
    "ban_hook": True,
    "ban_scope": "mail",
    "mail_ports": [25, 465, 587, 110, 995, 143, 993, 4190],
    "syn_rate": 30,
    "syn_burst": 60,
    "syn_ports": [465, 587, 110, 995, 143, 993, 4190],
    "syn_rate_smtp": 600,
    "state_dir": "/var/lib/mail-bruteforce-guard",
    "syslog": True,
}

BACKENDS = "'auto', 'iptables', 'nftables' or 'ipset'"


def write(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_design_example_loads(tmp_path):
    cfg = load_config(write(tmp_path, DESIGN_EXAMPLE))
    assert cfg.as_dict() == dict(DEFAULTS, **DESIGN_EXAMPLE)
    assert cfg.policy.ignore == ("10.0.0.0/8",)
    assert cfg.get("ipset_v4") == "mbg_ban_v4"  # the firewall layer reads it like a mapping


def test_overrides_and_replace(tmp_path):
    cfg = load_config(write(tmp_path, {"maxretry": 3}), {"logs": ["/tmp/x.log"], "state_dir": None})
    assert cfg.maxretry == 3
    assert cfg.logs == ["/tmp/x.log"]
    assert cfg.state_dir == DEFAULTS["state_dir"]
    cfg2 = cfg.replace(ignore=["192.0.2.0/24"])
    assert cfg2.policy.ignore == ("192.0.2.0/24",)
    assert cfg.ignore == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"maxretri": 5}, "unknown config key 'maxretri'"),
        ({"maxretry": "5"}, "'maxretry' must be an integer"),
        ({"logs": "/var/log/mail.log"}, "'logs' must be a list of strings"),
        ({"logs": [1]}, "'logs' must be a list of strings"),
        ({"mode": "panic"}, "'mode' must be 'enforce' or 'monitor'"),
        ({"journal": "yes"}, "'journal' must be true or false"),
        ({"ignore": ["10.0.0.0/99"]}, "'ignore'"),
        ({"ipset_v4": "bad name!"}, "'ipset_v4'"),
        ({"ipset_maxelem": 0}, "'ipset_maxelem'"),
        ({"bantime": 600, "bantime_max": 60}, "'bantime_max'"),
        ({"firewall_backend": "pf"}, f"'firewall_backend' must be {BACKENDS}, got 'pf'"),
        ({"firewall_backend": ""}, f"'firewall_backend' must be {BACKENDS}, got ''"),
        ({"state_dir": ""}, "'state_dir' must not be empty"),
        ({"ban_hook": "yes"}, "'ban_hook' must be true or false"),
        ({"ban_scope": "web"}, "'ban_scope' must be 'mail' or 'all', got 'web'"),
        ({"mail_ports": []}, "'mail_ports' must not be empty"),
        ({"mail_ports": "25"}, "'mail_ports' must be a list of port numbers"),
        ({"mail_ports": [25, 0]}, "'mail_ports' must hold port numbers 1-65535, got 0"),
        ({"syn_ports": [True]}, "'syn_ports' must hold port numbers 1-65535, got True"),
        ({"syn_ports": list(range(1, 17))}, "'syn_ports' holds more than 15 ports"),
        ({"syn_rate": -1}, "'syn_rate' must be >= 0, got -1"),
        ({"syn_burst": 0}, "'syn_burst' must be >= 1, got 0"),
        ({"syn_rate_smtp": 1.5}, "'syn_rate_smtp' must be an integer"),
        ([1, 2], "must hold a JSON object"),
        ("{", "is not valid JSON"),
    ],
)
def test_bad_config_is_one_line_config_error(tmp_path, data, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("name", ["auto", "iptables", "nftables", "ipset"])
def test_every_backend_name_loads(tmp_path, name):
    assert load_config(write(tmp_path, {"firewall_backend": name})).firewall_backend == name


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*No such file"):
        load_config(str(tmp_path / "nope.json"))
