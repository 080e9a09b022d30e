#!/usr/bin/env bash
# Runs a command (the test suite) in a throwaway network namespace with only loopback up: whatever a test
# does to iptables, ipset, nftables or sysctl lands there and is gone when the command ends, never on this
# machine. The firewall tests make namespaces of their own inside it. Without root (no unshare), the command
# runs as it is: the tests that need root skip themselves then.
set -euo pipefail
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
exec "$@"
