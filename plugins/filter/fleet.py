# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fleet filters: ``fleet_merge`` (one entry per address over ``{host: report}``, for the
shared bans) and ``fleet_report`` (the whole fleet as JSON, CSV or Markdown). The checks, the merge and the
timeline live in the library (``plugins/module_utils/fleet/``); this file renders and turns its errors into
AnsibleFilterError.
Documentation: fleet_merge.yml and fleet_report.yml next to this file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet import merge
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet.document import (
    fleet_document,
)
from ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils.fleet.reports import (
    FleetInputError,
)

REPORT_FORMATS = ("json", "csv", "markdown")
CSV_FIELDS = (
    "ip",
    "host_count",
    "hosts",
    "failures",
    "services",
    "usernames",
    "first_seen",
    "last_seen",
    "banned_on",
    "ban_until",
    "active_on",
)


def fleet_merge(reports: Any, min_hosts: Any = 1, bantime: Any = None) -> list[dict[str, Any]]:
    """Merge ``{host: report}`` into one record per address seen on at least ``min_hosts`` hosts (a host's
    stale-client failures are not counted); with ``bantime`` each record gets ``share_until``."""
    try:
        return merge.fleet_merge(reports, min_hosts=min_hosts, bantime=bantime)
    except FleetInputError as err:
        raise AnsibleFilterError(str(err)) from None


# a formula start at the start of a cell or after any character a spreadsheet may split a line on
# (",", ";", tab, "|", space; a line break too) when it ignores the CSV quoting
_FORMULA_START = re.compile(r"(?:^|(?<=[,;\t| \r\n]))(?=[=+\-@\t\r])")


def _csv_cell(value: Any) -> str:
    """Text for one CSV cell; lists joined by spaces; formula-looking text (=, +, -, @, tab, CR) neutralised
    with a "'" wherever a spreadsheet could start a cell (every cell is quoted too)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return _FORMULA_START.sub("'", str(value))


def _render_csv(doc: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_FIELDS)
    for off in doc["offenders"]:
        writer.writerow([_csv_cell(off[field]) for field in CSV_FIELDS])
    return out.getvalue()


def _md(value: Any) -> str:
    """Markdown table cell text: attacker-chosen strings are escaped, never interpreted."""
    if value is None:
        return "-"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value) if value else "-"
    text = " ".join(str(value).split())
    for char in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#", "!"):
        text = text.replace(char, "\\" + char)
    return text or "-"


def _md_list(values: list, limit: int = 10) -> str:
    shown = values[:limit]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return _md(shown) + more


def _render_markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        "# Mail brute-force guard: fleet report",
        "",
        f"Generated {_md(doc['generated'])}.",
        "",
        f"- Hosts: {s['hosts']} ({s['hosts_ok']} reporting, {s['hosts_failed']} failed)",
        f"- Offending addresses: {s['offenders']} (seen on at least {doc['min_hosts']} host(s)),"
        f" {s['multi_host']} on 2 or more hosts, {s['failures']} failures",
        f"- Addresses with a ban decision: {s['banned']}; active bans on the hosts: {s['active_bans']}",
        f"- Account alerts: {s['alerts']} ({s['compromised']} compromised)",
        f"- Stale clients (old passwords, not banned): {s['stale_clients']} open;"
        f" shared addresses: {s['shared_addresses']}",
        "",
        "## Hosts",
        "",
        "| Host | Status | Mode | Offenders | Ban | Watch | Active bans | Failures | Alerts |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for h in doc["hosts"]:
        if h["status"] != "ok":
            lines.append(f"| {_md(h['host'])} | {_md(h['status'])} | - | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {_md(h['host'])} | ok | {_md(h['mode'])} | {h['offenders']} | {h['ban_decisions']}"
            f" | {h['watch']}"
            f" | {h['active_bans']} | {h['failures']} | {h['alerts']} |"
        )
    lines += [
        "",
        "## Offenders",
        "",
        "| Address | Hosts | Failures | Services | Usernames | First seen | Last seen | Ban decided on"
        " | Banned now on |",
        "|---|---|---:|---|---|---|---|---|---|",
    ]
    for o in doc["offenders"]:
        lines.append(
            f"| {_md(o['ip'])} | {_md(o['hosts'])} | {o['failures']} | {_md(o['services'])}"
            f" | {_md_list(o['usernames'])} | {_md(o['first_seen'])} | {_md(o['last_seen'])}"
            f" | {_md(o['banned_on'])} | {_md(o['active_on'])} |"
        )
    if not doc["offenders"]:
        lines.append("| - | - | 0 | - | - | - | - | - | - |")
    lines += ["", "## Account alerts", ""]
    if doc["accounts"]:
        lines += ["| Username | Alert | Hosts | Addresses |", "|---|---|---|---|"]
        lines += [
            f"| {_md(a['username'])} | {_md(a['alert'])} | {_md(a['hosts'])} | {_md_list(a['ips'])} |"
            for a in doc["accounts"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Stale clients", ""]
    if doc["stale_clients"]:
        lines += ["| Username | Address | Host | Failures | Since | Last seen | Shared | Resolved |",
                  "|---|---|---|---:|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {_md(r['username'])} | {_md(r['ip'])} | {_md(r['host'])} | {r['failures']}"
            f" | {_md(r['since'])} | {_md(r['last_seen'])} | {'yes' if r['shared'] else 'no'}"
            f" | {_md(r['resolved'])} |"
            for r in doc["stale_clients"]
        ]
    else:
        lines.append("None.")
    if doc["shared_addresses"]:
        lines += ["", "## Shared addresses", "", "| Address | Users | Hosts |", "|---|---:|---|"]
        lines += [f"| {_md(r['ip'])} | {r['users']} | {_md(r['hosts'])} |" for r in doc["shared_addresses"]]
    return "\n".join(lines) + "\n"


def fleet_report(reports: Any, format: str = "json", min_hosts: Any = 1, generated: Any = None) -> str:
    """Render the fleet report of ``{host: report}`` as ``json``, ``csv`` or ``markdown`` text."""
    if format not in REPORT_FORMATS:
        raise AnsibleFilterError(
            f"fleet_report: format must be one of {', '.join(REPORT_FORMATS)}, got {format!r}"
        )
    try:
        doc = fleet_document(reports, min_hosts=min_hosts, generated=generated)
    except FleetInputError as err:
        raise AnsibleFilterError(str(err)) from None
    if format == "json":
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if format == "csv":
        return _render_csv(doc)
    return _render_markdown(doc)


class FilterModule:
    """Fleet filters of mailsec.mail_bruteforce_guard."""

    def filters(self) -> dict[str, Any]:
        return {"fleet_merge": fleet_merge, "fleet_report": fleet_report}
