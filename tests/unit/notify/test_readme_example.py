"""The notifier example of README.md's "Getting told" is valid config (the library's own validation) and names
every metric the textfile holds."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from mail_bruteforce_guard.detector.config import Config
from mail_bruteforce_guard.detector.metrics import render

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()
SECTION = README[README.index("## Getting told") : README.index("## Role variables")]


def test_the_notifier_example_is_valid_config():
    (block,) = re.findall(r"^```yaml\n(.*?)^```", SECTION, flags=re.S | re.M)
    example = yaml.safe_load(block)
    config = Config(
        {
            "notify": example["mail_bruteforce_guard_notify"],
            "metrics_file": example["mail_bruteforce_guard_metrics_file"],
        }
    )
    assert [n["type"] for n in config.notify] == ["email", "email", "webhook", "exec"]
    secret_dir = "/etc/mail-bruteforce-guard/secrets/"
    files = {n.get("password_file") or n.get("secret_file") for n in config.notify} - {None}
    assert files == {secret_dir + name for name in example["mail_bruteforce_guard_notify_secrets"]}


def test_every_metric_is_named():
    text = render({}, {}, 0, {}, 0.0)
    names = set(re.findall(r"^# TYPE mail_bruteforce_guard_(\w+)", text, flags=re.M))
    shown = set(re.findall(r"`(?:mail_bruteforce_guard)?_(\w+?)(?:\{\w+\})?`", SECTION))
    assert names <= shown, names - shown
