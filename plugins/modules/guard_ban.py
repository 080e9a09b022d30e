#!/usr/bin/python
# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guard_ban
short_description: Ban or unban addresses on a mail server through mail-bruteforce-guard
version_added: "1.0.0"
description:
  - Adds or removes bans through the detector's enforcement layer (the same one its scans use), so bans
    land in the ipset sets and in the detector's state, are logged to syslog, survive a reboot (restore) and
    are never applied to protected (controller) addresses, ignored networks, loopback and the like.
  - With O(state=present) an address that already has an active ban lasting at least as long as asked is left
    alone, so the module is idempotent; with O(expires) an existing ban is extended to that time when it ends
    earlier (never shortened).
  - With O(bans), many addresses each with its own end and reason are banned in one call to the detector,
    one firewall batch and one state write (what C(share_bans.yml) uses, one task per host, not one per
    address).
  - In the detector's C(monitor) mode bans are recorded in the state but not written to the firewall.
extends_documentation_fragment:
  - mailsec.mail_bruteforce_guard.detector
options:
  state:
    description: Whether the addresses must be banned (V(present)) or not (V(absent)).
    type: str
    choices: [present, absent]
    default: present
  addresses:
    description:
      - IPv4/IPv6 addresses or CIDR networks (V(198.51.100.7), V(2001:db8:1:2::/64)).
      - A malformed entry fails the task, whatever O(fail_on_refused) says.
      - One of O(addresses) and O(bans) is required; they are mutually exclusive.
    type: list
    elements: str
  bans:
    description:
      - Bans to ensure, each with its own end and reason, applied in one firewall batch (only with
        O(state=present)).
      - Each entry is handled like O(expires) with O(addresses) (never shortened, idempotent); an entry whose
        end is past bans nothing (reported in RV(expired)); an address given twice keeps its later end.
      - Mutually exclusive with O(addresses), O(duration) and O(expires).
    type: list
    elements: dict
    suboptions:
      address:
        description: IPv4/IPv6 address or CIDR network.
        type: str
        required: true
      expires:
        description: End of the ban, ISO 8601 (no zone means UTC) or POSIX seconds.
        type: str
        required: true
        aliases: [until]
      reason:
        description: Why; defaults to O(reason).
        type: str
  duration:
    description:
      - Length of a new ban in seconds (default the detector's C(bantime)).
      - An address that already has an active ban keeps it; use O(expires) to extend bans.
      - Mutually exclusive with O(expires).
    type: int
  expires:
    description:
      - End of the ban, ISO 8601 (V(2026-11-27T08:00:00Z); no zone means UTC) or POSIX seconds.
      - A ban that already lasts until then (or later) is not changed, so a playbook can share the same ban
        repeatedly without changes. An O(expires) in the past bans nothing (reported in RV(expired)).
      - Mutually exclusive with O(duration).
    type: str
    aliases: [until]
  reason:
    description:
      - Why, recorded in the state and in the syslog line of the ban.
      - With O(bans), the reason of the entries that give none.
    type: str
    default: banned by Ansible
  reset:
    description:
      - With O(state=absent), also forget the addresses' escalation history (their next ban starts again at
        C(bantime)).
    type: bool
    default: false
  fail_on_refused:
    description:
      - Fail when an address is refused (protected, ignored, loopback, too broad a network).
      - By default refusals are only reported in RV(refused).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Computes what would be banned or unbanned, and the diff, without changing firewall or state.
  diff_mode:
    support: full
    description: Shows the active ban list before and after, one C(address until) line per ban.
author:
  - mail_bruteforce_guard developers (@mailsec)
notes:
  - Needs root on the host (C(become=true)) for ipset and the state directory.
seealso:
  - module: mailsec.mail_bruteforce_guard.guard_info
"""

EXAMPLES = r"""
- name: Ban two addresses for a day
  mailsec.mail_bruteforce_guard.guard_ban:
    addresses: [203.0.113.7, "2001:db8:1:2::/64"]
    duration: 86400
    reason: seen on mail1 and mail2
  become: true

- name: Share a ban with a fixed end (re-running it changes nothing)
  mailsec.mail_bruteforce_guard.guard_ban:
    addresses: [203.0.113.7]
    expires: "2026-11-27T08:00:00Z"
    reason: "seen on mbg-mail1, mbg-mail2: 14 failures"
  become: true

- name: Share several bans, each with its own end and reason, in one firewall batch
  mailsec.mail_bruteforce_guard.guard_ban:
    bans:
      - {address: 203.0.113.7, expires: "2026-11-27T08:00:00Z", reason: "seen on mbg-mail1, mbg-mail2"}
      - {address: 198.51.100.9, expires: "2026-11-27T09:30:00Z", reason: "seen on mbg-mail2, mbg-mail3"}
  become: true

- name: Lift a ban and forget the address's history
  mailsec.mail_bruteforce_guard.guard_ban:
    state: absent
    addresses: [203.0.113.7]
    reset: true
  become: true
"""

RETURN = r"""
added:
  description: Addresses banned (or whose ban was extended) by this run, normalised; in check mode, those that
    would be.
  returned: state=present
  type: list
  elements: str
  sample: [203.0.113.7]
unchanged:
  description: Addresses that already had an active ban lasting long enough.
  returned: state=present
  type: list
  elements: str
refused:
  description: Addresses the enforcement layer refused, with the reason.
  returned: state=present
  type: list
  elements: dict
  sample: [{address: 192.0.2.10, reason: protected (controller address)}]
expired:
  description: Addresses not banned because O(expires) is already past.
  returned: state=present
  type: list
  elements: str
until:
  description: End of the bans added (ISO 8601 UTC; with O(bans), the latest of them).
  returned: state=present and something was added
  type: str
  sample: "2026-11-27T08:00:00Z"
removed:
  description: Addresses whose ban was lifted (or would be, in check mode).
  returned: state=absent
  type: list
  elements: str
bans:
  description: Active bans after the run (predicted in check mode), C(address) and C(until) each.
  returned: success
  type: list
  elements: dict
mode:
  description: Detector mode (C(enforce) writes the firewall, C(monitor) only the state).
  returned: success
  type: str
"""

import contextlib
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.detector.api import (
    ban,
    ban_each,
    load_config,
    status,
    unban,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.errors import MbgError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.firewall.base import (
    normalize_target,
    unique_targets,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.times import (
    BAN_END_TOLERANCE,
    iso_seconds,
    parse_time,
)


class BadArgumentError(Exception):
    """An option value the module cannot use; the message is the task's failure message."""


def parse_until(value: str, option: str = "expires") -> float:
    """ISO 8601 (naive = UTC) or POSIX seconds -> POSIX seconds; ``option`` names the value in errors."""
    when = parse_time(str(value), numeric_text=True)
    if when is None:
        raise BadArgumentError(
            f"{option}: {value!r} is not an ISO 8601 time (such as 2026-11-27T08:00:00Z) or POSIX seconds"
        )
    return when


def target(address: str, option: str = "addresses") -> str:
    """One normalised address; BadArgumentError names it (and ``option``) when malformed."""
    try:
        return normalize_target(str(address).strip())
    except ValueError as err:
        raise BadArgumentError(f"{option}: {err}") from None


def targets(addresses: list) -> list:
    """Normalised, de-duplicated addresses; BadArgumentError names the first malformed one."""
    try:
        out = unique_targets(addresses)
    except ValueError as err:
        raise BadArgumentError(f"addresses: {err}") from None
    if not out:
        raise BadArgumentError("addresses: no address given")
    return out


def requested_bans(entries: list, default_reason: str) -> dict:
    """``bans`` entries -> {address: (end, reason)}, normalised; a repeated address keeps its later end."""
    out: dict = {}
    for index, entry in enumerate(entries):
        where = f"bans[{index}]"
        address = target(entry["address"], f"{where}.address")
        end = parse_until(entry["expires"], f"{where}.expires")
        reason = entry.get("reason") or default_reason
        if address not in out or end > out[address][0]:
            out[address] = (end, reason)
    return out  # (an empty list bans nothing: a playbook need not skip the task)


def active_bans(config, now: float, warn) -> dict:
    """address -> status entry (with ``until_ts``) of every active ban in the state."""
    bans = {}
    for item in status(config, now=now, warn=warn, firewall=False)["bans"]:
        entry = dict(item)
        entry["until_ts"] = now + float(entry.get("remaining", 0))
        if entry.get("until"):
            with contextlib.suppress(BadArgumentError):
                entry["until_ts"] = parse_until(entry["until"])
        bans[entry["address"]] = entry
    return bans


def ban_lines(bans: dict) -> str:
    """Diff text: one ``address until`` line per ban, sorted."""
    return "".join(
        f"{address} until {iso_seconds(entry['until_ts'])}\n" for address, entry in sorted(bans.items())
    )


def ensure_present(module: AnsibleModule, config, wanted: dict, now: float) -> dict:
    """Ban ``wanted`` ({address: (end, reason)}; end None: a new ban of O(duration)) unless already banned
    long enough; one detector call for all of them."""
    params = module.params
    before = active_bans(config, now, module.warn)
    monitor = config.mode == "monitor"
    duration = None
    if params["duration"] is not None or any(end is None for end, _reason in wanted.values()):
        duration = params["duration"] if params["duration"] is not None else config.bantime
        if duration <= 0:
            raise BadArgumentError(f"duration: must be a positive number of seconds, got {duration}")
    expired = [a for a, (end, _reason) in wanted.items() if end is not None and end <= now]

    def satisfied(address: str, end: float | None) -> bool:
        entry = before.get(address)
        if entry is None or not (entry.get("enforced") or monitor):
            return False  # no ban, or one the firewall does not hold yet: (re)apply it
        if end is None:
            return True  # duration: an active ban is kept as it is
        return entry["until_ts"] >= end - BAN_END_TOLERANCE

    live = {a: v for a, v in wanted.items() if a not in expired}
    unchanged = [a for a, (end, _reason) in live.items() if satisfied(a, end)]
    todo = {a: v for a, v in live.items() if a not in unchanged}
    added: list = []
    refused: list = []
    ends: dict = {}
    if todo:
        if params["bans"] is not None:
            result = ban_each(
                config,
                [(a, end, reason) for a, (end, reason) in todo.items()],
                dry_run=module.check_mode,
                now=now,
                warn=module.warn,
            )
        else:
            end = next(iter(todo.values()))[0]  # one end (or duration) for all O(addresses)
            result = ban(
                config,
                list(todo),
                duration=duration if end is None else None,
                until=end,
                reason=params["reason"],
                dry_run=module.check_mode,
                now=now,
                warn=module.warn,
            )
        added = list(result["added"])
        refused = list(result["refused"])
        ends = {a: now + duration if todo[a][0] is None else todo[a][0] for a in added}
    after = dict(before)
    for address in added:
        previous = before.get(address, {}).get("until_ts", 0.0)
        after[address] = {"until_ts": max(ends[address], previous)}
    return {
        "changed": bool(added),
        "added": added,
        "unchanged": unchanged,
        "refused": refused,
        "expired": expired,
        "until": iso_seconds(max(ends.values())) if added else None,
        "before": before,
        "after": after,
    }


def ensure_absent(module: AnsibleModule, config, wanted: list, now: float) -> dict:
    before = active_bans(config, now, module.warn)
    result = unban(config, wanted, reset=module.params["reset"], dry_run=module.check_mode, warn=module.warn)
    removed = list(result["removed"])
    after = {a: e for a, e in before.items() if a not in removed}
    return {"changed": bool(removed), "removed": removed, "before": before, "after": after}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "addresses": {"type": "list", "elements": "str"},
            "bans": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "address": {"type": "str", "required": True},
                    "expires": {"type": "str", "required": True, "aliases": ["until"]},
                    "reason": {"type": "str"},
                },
            },
            "duration": {"type": "int"},
            "expires": {"type": "str", "aliases": ["until"]},
            "reason": {"type": "str", "default": "banned by Ansible"},
            "reset": {"type": "bool", "default": False},
            "fail_on_refused": {"type": "bool", "default": False},
            "config": {"type": "path"},
            "state_dir": {"type": "path"},
        },
        mutually_exclusive=[
            ("duration", "expires"),
            ("addresses", "bans"),
            ("bans", "duration"),
            ("bans", "expires"),
        ],
        required_one_of=[("addresses", "bans")],
        required_if=[("state", "absent", ("addresses",))],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["bans"] is not None:
            wanted = requested_bans(params["bans"], params["reason"])
        else:
            addresses = targets(params["addresses"])
            end = None if params["expires"] is None else parse_until(params["expires"])
            wanted = dict.fromkeys(addresses, (end, params["reason"]))
        overrides = {"state_dir": params["state_dir"]} if params["state_dir"] else None
        config = load_config(params["config"], overrides)
        now = time.time()
        if params["state"] == "present":
            result = ensure_present(module, config, wanted, now)
        else:
            result = ensure_absent(module, config, list(wanted), now)
    except (MbgError, BadArgumentError) as err:
        module.fail_json(msg=str(err))
    before, after = result.pop("before"), result.pop("after")
    result["bans"] = [{"address": a, "until": iso_seconds(e["until_ts"])} for a, e in sorted(after.items())]
    result["mode"] = config.mode
    if module._diff:
        result["diff"] = {"before": ban_lines(before), "after": ban_lines(after)}
    if result.get("refused") and params["fail_on_refused"]:
        refused = ", ".join(f"{r['address']} ({r['reason']})" for r in result["refused"])
        module.fail_json(msg=f"refused to ban: {refused}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
