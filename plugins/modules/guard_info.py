#!/usr/bin/python
# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guard_info
short_description: Read a mail server's brute-force offenders, active bans and account alerts
version_added: "1.0.0"
description:
  - Returns what the mail-bruteforce-guard detector on the host remembers, from its saved state
    (C(report) and C(status) of the detector), without reading any log and without changing anything.
  - The result has the same C(offenders), C(accounts) and C(stats) as C(mail-bruteforce-guard scan --json),
    plus the active C(bans) and the detector C(mode), so it can be fed straight to the
    P(mailsec.mail_bruteforce_guard.fleet_merge#filter) and
    P(mailsec.mail_bruteforce_guard.fleet_report#filter) filters.
  - The detector library is shipped with the module; the host needs Python 3.9 or later.
extends_documentation_fragment:
  - mailsec.mail_bruteforce_guard.detector
attributes:
  check_mode:
    support: full
    description: Never changes anything, so check mode runs it as usual.
  diff_mode:
    support: none
    description: Changes nothing, so there is no difference to show.
author:
  - mail_bruteforce_guard developers (@mailsec)
notes:
  - Run it with the privileges that can read the state directory (C(become=true)); the directory is mode 0700.
seealso:
  - module: mailsec.mail_bruteforce_guard.guard_ban
"""

EXAMPLES = r"""
- name: Read the detector's report
  mailsec.mail_bruteforce_guard.guard_info:
  become: true
  register: guard

- name: Show the addresses the host decided to ban
  ansible.builtin.debug:
    msg: "{{ guard.offenders | selectattr('decision', 'equalto', 'ban') | map(attribute='ip') | list }}"

- name: Read a detector with a non-default configuration and state directory
  mailsec.mail_bruteforce_guard.guard_info:
    config: /etc/mail-bruteforce-guard/config.json
    state_dir: /srv/mbg/state
"""

RETURN = r"""
offenders:
  description: Every address the detector remembers, most failures first.
  returned: success
  type: list
  elements: dict
  contains:
    ip: {description: Address or IPv6 prefix., type: str, sample: 203.0.113.7}
    failures: {description: Failed authentications counted., type: int, sample: 14}
    services: {description: Services attacked., type: list, elements: str, sample: [dovecot, postfix]}
    usernames: {description: Usernames tried (50 at most)., type: list, elements: str, sample: [a@b.c]}
    first_seen: {description: First failure (ISO 8601 UTC)., type: str, sample: "2026-11-26T17:29:09Z"}
    last_seen: {description: Last failure (ISO 8601 UTC)., type: str, sample: "2026-11-26T17:31:40Z"}
    decision: {description: "C(ban), C(watch) or C(ignored).", type: str, sample: ban}
    reason: {description: "Why, in words.", type: str, sample: 14 failures in 2m (postfix)}
    ban_until: {description: End of the decided ban or null., type: str, sample: "2026-11-26T18:31:40Z"}
    bans: {description: Bans so far (drives escalation)., type: int, sample: 1}
accounts:
  description: Account alerts, a username under a distributed attack (C(targeted)) or logged into after
    failures (C(compromised)).
  returned: success
  type: list
  elements: dict
  sample: [{username: alice@example.com, alert: targeted, ips: [198.51.100.4, 203.0.113.7]}]
stale_clients:
  description: Known users' failures from their own address (an old password on a phone), counted toward the
    stale-client ceiling instead of the ban windows; one row per username and address.
  returned: success
  type: list
  elements: dict
  sample: [{username: alice@example.com, ip: 198.51.100.10, failures: 72, since: "2026-12-01T09:30:19Z",
            last_seen: "2026-12-01T15:30:02Z", shared: true, resolved: null}]
shared_addresses:
  description: Addresses from which at least C(shared_min_users) usernames logged in (an office, a VPN).
  returned: success
  type: list
  elements: dict
  sample: [{ip: 198.51.100.10, users: 12}]
stats:
  description: Detector statistics of this read (C(lines), C(events), C(bytes), C(seconds)).
  returned: success
  type: dict
timeline:
  description: Failures per UTC hour over the newest 168 hours the detector remembers (hour start -> count).
  returned: success
  type: dict
  sample: {"2026-11-26T17:00:00Z": 42}
bans:
  description: Active bans recorded in the state (the source of truth), with C(address), C(until),
    C(remaining) seconds, C(reason), C(count) and C(enforced).
  returned: success
  type: list
  elements: dict
mode:
  description: Detector mode, C(enforce) or C(monitor).
  returned: success
  type: str
  sample: enforce
state_dir:
  description: State directory read.
  returned: success
  type: str
saved_at:
  description: When the state was last saved (ISO 8601 UTC), null if never.
  returned: success
  type: str
logs:
  description: Log path -> bytes read so far.
  returned: success
  type: dict
tracked_addresses:
  description: Addresses the detector keeps in memory.
  returned: success
  type: int
summary:
  description: Counts for a quick look.
  returned: success
  type: dict
  sample: {offenders: 3, ban: 1, watch: 2, ignored: 0, active_bans: 1, alerts: 0}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.detector.api import (
    load_config,
    report,
    status,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.errors import MbgError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.summary import host_counts


def gather(config_path: str | None, state_dir: str | None, warn) -> dict:
    """The module's result (without ``changed``); MbgError on a bad config or state."""
    config = load_config(config_path, {"state_dir": state_dir} if state_dir else None)
    result = report(config, warn=warn)
    result.update(status(config, warn=warn))
    result["summary"] = host_counts(result)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={"config": {"type": "path"}, "state_dir": {"type": "path"}},
        supports_check_mode=True,
    )
    try:
        result = gather(module.params["config"], module.params["state_dir"], module.warn)
    except MbgError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
