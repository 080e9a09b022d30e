"""One schema (module_utils/schema.py) for the library and the role: no default, limit or choice can drift.

The role's defaults and argument_specs are generated from the schema (test_role_variables checks the files are
up to date); these tests hold the parts together whatever the generator does: the specs say what the schema
says, the library and the role's validate filter accept and refuse exactly the same values at every limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.filter.role_errors import role_errors
from mail_bruteforce_guard import schema
from mail_bruteforce_guard.detector.config import DEFAULTS, Config
from mail_bruteforce_guard.errors import ConfigError
from mail_bruteforce_guard.policy.config import PolicyConfig

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "mail_bruteforce_guard"
ROLE_SETTINGS = [s for s in schema.SETTINGS if s.role]
SPEC_TYPES = {"int": "int", "number": "float", "bool": "bool", "str": "str", "path": "path", "list": "list"}


def _yaml(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("setting", ROLE_SETTINGS, ids=lambda s: s.name)
def test_the_role_specifies_every_setting_as_the_schema_does(setting):
    spec = _yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"][setting.var]
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    assert defaults[setting.var] == spec["default"] == setting.default_for_role
    assert spec["type"] == SPEC_TYPES[setting.kind]
    assert spec.get("choices", []) == list(setting.choices)
    if setting.minimum is not None and setting.kind != "list":
        assert f"From {setting.minimum} to {setting.maximum}." in spec["description"]


def test_the_role_renders_every_role_setting_into_the_config():
    config = _yaml(ROLE / "vars" / "main.yml")["mail_bruteforce_guard__config"]
    assert list(config) == [s.name for s in ROLE_SETTINGS]


def test_library_defaults_and_policy_fields_come_from_the_schema():
    assert {s.name: s.default for s in schema.SETTINGS} == DEFAULTS
    for name, default in PolicyConfig._field_defaults.items():
        if name in schema.BY_NAME:
            want = schema.BY_NAME[name].default
            assert default == (tuple(want) if isinstance(want, list) else want), name
    assert Config().as_dict() == DEFAULTS


def test_the_role_defaults_pass_the_library_and_the_role():
    role_defaults = {s.name: s.default_for_role for s in ROLE_SETTINGS}
    assert schema.errors(role_defaults, for_role=True) == []
    assert role_errors({s.var: s.default_for_role for s in ROLE_SETTINGS}) == []


def _library_accepts(name, value) -> bool:
    try:
        Config({name: value, **_partners(name, value)})
    except ConfigError:
        return False
    return True


def _partners(name, value) -> dict:
    """The settings tied to this one (bantime_max >= bantime) move with it, out of a limit test's way."""
    tied = [other for key, other in schema.AT_LEAST if key == name] + [
        key for key, other in schema.AT_LEAST if other == name
    ]
    return dict.fromkeys(tied, value)


def _role_accepts(name, value) -> bool:
    variables = {
        schema.ROLE_PREFIX + key: val for key, val in {name: value, **_partners(name, value)}.items()
    }
    return role_errors(variables) == []


NUMBERS = [s for s in ROLE_SETTINGS if s.kind in ("int", "number")]


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda s: s.name)
def test_library_and_role_agree_at_every_limit(setting):
    low, high = setting.minimum, setting.maximum
    for value, good in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
        assert _library_accepts(setting.name, value) is good, (setting.name, value)
        assert _role_accepts(setting.name, value) is good, (setting.name, value)


@pytest.mark.parametrize(
    "name", ["slow_maxretry", "targeted_min_ips", "compromised_min_failures", "syn_rate_smtp"]
)
def test_zero_switches_a_rule_off_in_the_role_too(name):
    """The drift this schema ended: the library took 0 ("off"), the role refused anything below 1."""
    assert _library_accepts(name, 0)
    assert _role_accepts(name, 0)
    assert _role_accepts(
        name, "0"
    )  # -e name=0 on the command line is a string; the role renders it with | int


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mode", "block"),
        ("ipset_v4", "bad name!"),
        ("ignore", ["10.0.0.300/8"]),
        ("mail_ports", []),
        ("mail_ports", [25, 0]),
        ("syn_ports", list(range(1, 17))),
        ("bantime_multiplier", 0.5),
        ("ban_scope", "web"),
        ("notify", ["email"]),  # the schema: a list of objects
        ("notify", [{"type": "pager"}]),  # notify/settings.py: each object
        ("notify", [{"type": "webhook", "url": "ftp://x"}]),
        ("metrics_file", None),
    ],
)
def test_library_and_role_refuse_the_same_values(name, value):
    assert not _library_accepts(name, value)
    (message,) = role_errors({schema.ROLE_PREFIX + name: value})
    assert message.startswith(f"{schema.ROLE_PREFIX}{name}: ")
    assert "\n" not in message


def test_relations_name_both_variables():
    found = role_errors({"mail_bruteforce_guard_bantime": 600, "mail_bruteforce_guard_bantime_max": 60})
    assert found == [
        "mail_bruteforce_guard_bantime_max: must be >= mail_bruteforce_guard_bantime, got 60 < 600"
    ]
    found = role_errors({"mail_bruteforce_guard_ipset_v4": "x", "mail_bruteforce_guard_ipset_v6": "x"})
    assert found == [
        "mail_bruteforce_guard_ipset_v6: must differ from mail_bruteforce_guard_ipset_v4, both are 'x'"
    ]


def test_the_role_alone_wants_absolute_paths():
    """The role writes state_dir and logs into systemd units; the detector run by hand takes relative ones."""
    assert _library_accepts("state_dir", "relative/dir")
    assert not _role_accepts("state_dir", "relative/dir")
    assert not _role_accepts("logs", ["/var/log/mail log"])
    assert _role_accepts("logs", ["/var/log/mail.log"])


@pytest.mark.parametrize("path", ["/var/lib", "/etc", "/usr/local", "/tmp", "/var/log", "/srv"])
def test_the_role_refuses_a_system_directory_as_its_state_dir(path):
    """The role makes the state directory 0700 (and purges it on uninstall): /var/lib was accepted and made
    0700 by a converge (hostile review). A directory of its own below them is fine."""
    errors = role_errors({schema.ROLE_PREFIX + "state_dir": path})
    assert errors == [
        f"mail_bruteforce_guard_state_dir: must be a directory of its own (the role makes it 0700),"
        f" not the system's {path!r}"
    ]
    assert _role_accepts("state_dir", path + "/mail-bruteforce-guard")
    assert _library_accepts("state_dir", path)  # the detector run by hand: the admin's choice


def test_optional_strings_and_object_lists_for_new_keys():
    """What a key like issue 16's metrics_file ("" = off) or notify (a list of objects checked by its own
    module) needs from the schema."""
    optional = schema.Setting("metrics_file", "str", "", "x", rule="optional")
    assert schema.problem(optional, "") is None
    assert schema.problem(optional, 5) == "must be a string, got 5"
    objects = schema.Setting("notify", "list", [], "x", elements="dict")
    assert schema.problem(objects, [{"type": "exec"}]) is None
    assert schema.problem(objects, ["x"]) == "must be a list of objects, got item 'x'"


def test_a_bad_notifier_is_named_by_the_role():
    bad = [{"type": "email"}, {"type": "exec", "command": "x"}]
    assert role_errors({"mail_bruteforce_guard_notify": bad}) == [
        "mail_bruteforce_guard_notify: entry 1 (exec): 'command' must be a non-empty list of strings"
        " (argv, no shell), got 'x'"
    ]


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "follow_memory_max",
            ["", "256M", "1073741824", "50%", "infinity"],
            ["0", "256 M", "101%", "1M\nUser=x", 5],
        ),
        ("follow_cpu_quota", ["", "100%", "250%"], ["100", "0%", "50%\nUser=x", 50]),
    ],
)
def test_the_follow_units_limits_take_only_systemd_forms(name, good, bad):
    """Role-only: written into the follow daemon's unit, so no stray newline or directive reaches systemd."""
    var = schema.ROLE_PREFIX + name
    for value in good:
        assert role_errors({var: value}) == [], value
    for value in bad:
        (message,) = role_errors({var: value})
        assert message.startswith(f"{var}: "), message
        assert "\n" not in message
