# Copyright: mail_bruteforce_guard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options every module that talks to the host's detector takes (guard_ban, guard_info)."""

    DOCUMENTATION = r"""
options:
  config:
    description:
      - Path of the detector's JSON configuration file on the host.
      - When omitted, C(/etc/mail-bruteforce-guard/config.json) is read if it exists, else the built-in
        defaults are used.
    type: path
  state_dir:
    description:
      - Directory holding the detector's C(state.json); overrides the C(state_dir) of the configuration.
    type: path
"""
