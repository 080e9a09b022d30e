#!/usr/bin/env bash
# `make demo`: the whole story on a local container fleet, from a fresh machine after `make setup`.
#   three mail hosts (Debian 12, 12, 13) with real Postfix + Dovecot, an attacker, a legitimate client (podman network
#   mbg-mailnet) -> deploy the guard (playbooks/site.yml) -> the attacker guesses passwords over SMTP AUTH and
#   IMAP on mbg-mail1 and mbg-mail2 -> the follow daemon bans it (the reaction time is measured and printed)
#   -> fleet report -> share_bans.yml bans it on mbg-mail3 too -> check that the attacker is cut off and the client is not -> remove the containers.
# The mail set-up, the attack and the checks are the molecule/mail scenario's playbooks (one copy of each).
# Usage: scripts/demo.sh          run the demo (MBG_DEMO_KEEP=1 keeps the containers afterwards)
#        scripts/demo.sh clean    remove the demo's containers and network (e.g. after MBG_DEMO_KEEP=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_CALLBACK_RESULT_FORMAT=json  # one line per message in the step logs (see summary_of)
SCENARIO="$ROOT/molecule/mail"
INVENTORY="$ROOT/inventories/local"
CONTAINERS=(mbg-mail1 mbg-mail2 mbg-mail3 mbg-attacker mbg-client)
MAIL_HOSTS=(mbg-mail1 mbg-mail2 mbg-mail3)
NETWORK=mbg-mailnet
LOGDIR="$ROOT/reports/demo-logs"
START=$SECONDS
STEP=0
STEPS=9

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31mdemo: %s\033[0m\n' "$*" >&2; exit 1; }
step() {
  STEP=$((STEP + 1))
  printf '\n\033[1;34m==> [%d/%d] %s\033[0m  (%ds)\n' "$STEP" "$STEPS" "$*" "$((SECONDS - START))"
}

remove_fleet() {
  podman rm --force --ignore --time=0 "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  podman network rm --force "$NETWORK" >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${MBG_DEMO_KEEP:-0}" = 1 ]; then
    printf '\nContainers kept (MBG_DEMO_KEEP=1): %s. Remove them with: scripts/demo.sh clean\n' "${CONTAINERS[*]}"
  else
    printf '\nCleaning up: removing the containers and the network %s ... ' "$NETWORK"
    remove_fleet
    printf 'done\n'
  fi
  if [ "$rc" -ne 0 ]; then
    printf '\033[1;31mThe demo failed (exit %d) after %ds. Logs of each step: %s\033[0m\n' "$rc" "$((SECONDS - START))" \
      "$LOGDIR"
  fi
  exit "$rc"
}

# run_playbook LOGNAME ARGS...: runs ansible-playbook with its output in $LOGDIR/LOGNAME.log; on failure shows
# the end of that log.
run_playbook() {
  local name="$1"
  shift
  local log="$LOGDIR/$name.log"
  if ! ansible-playbook "$@" >"$log" 2>&1; then
    printf '\n--- last lines of %s ---\n' "$log" >&2
    tail -n 40 "$log" >&2
    die "step '$name' failed (full log: $log)"
  fi
  say "ok ($(grep -c '^TASK ' "$log") tasks; log: ${log#"$ROOT"/})"
}

summary_of() {  # summary_of LOGNAME: the messages of the playbook's "Summary" task, one per line
  awk '/^TASK \[Summary\]/ {on = 1; next} /^(TASK|PLAY) / {on = 0} on' "$LOGDIR/$1.log" |
    sed -n 's/^ *"\(.*\)",\{0,1\}$/\1/p' | grep -v '^msg": ' | sed 's/^/      /' || true
}

ban_members() {  # ban_members HOST: the addresses in mbg_ban_v4 on HOST, one line
  podman exec "$1" ipset list mbg_ban_v4 2>/dev/null | sed -n '/^Members:/,$p' | sed '1d' | awk '{print $1}' |
    paste -sd ' ' -
}

if [ "${1:-}" = clean ]; then
  remove_fleet
  echo "demo: removed ${CONTAINERS[*]} and network $NETWORK"
  exit 0
elif [ $# -gt 0 ]; then
  die "usage: scripts/demo.sh [clean]"
fi

bold "mail_bruteforce_guard demo: a real brute-force attack against a small mail fleet, stopped and shared"
say "Everything runs in podman containers on the private network $NETWORK; nothing else is contacted."

step "Set-up"
[ "$(id -u)" = 0 ] || die "run as root (podman with privileged systemd containers)"
command -v podman >/dev/null || die "podman is missing: run 'make setup' first"
[ -x .venv/bin/ansible-playbook ] || die ".venv is missing: run 'make setup' first"
[ -d .collections/ansible_collections/containers/podman ] || die "containers.podman is missing: run 'make setup'"
[ -f "$INVENTORY/hosts.yml" ] || die "inventories/local/hosts.yml is missing"
for c in "${CONTAINERS[@]}"; do
  if podman container exists "$c"; then
    die "container $c already exists (an earlier demo, or 'molecule test -s mail' running now?); " \
      "remove the demo's containers with: scripts/demo.sh clean"
  fi
done
mkdir -p "$LOGDIR"
say "ansible-playbook $(ansible-playbook --version | awk 'NR == 1 {print $NF}' | tr -d ']'), podman $(podman --version | awk '{print $NF}')"
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Container images (built locally with debootstrap when missing: about a minute each)"
missing=()
pids=()
for image in mbg-mail:12 mbg-mail:13 mbg-debian:12; do
  if podman image exists "localhost/$image"; then
    say "localhost/$image: present"
  else
    missing+=("$image")
  fi
done
for image in "${missing[@]}"; do
  # Built in parallel; the build script logs debootstrap's progress to $MBG_BUILD_DIR/<name>.log.
  build_log="${MBG_BUILD_DIR:-/var/tmp/mbg-rootfs}/${image//[:\/]/-}.log"
  rm -f "$build_log"
  scripts/build-images.sh "$image" >"$LOGDIR/build-${image//[:\/]/-}.log" 2>&1 &
  pids+=("$!:$image:$build_log")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "building ${missing[*]} ..."
  while :; do
    running=0
    for entry in "${pids[@]}"; do
      IFS=: read -r pid image build_log <<<"$entry"
      if kill -0 "$pid" 2>/dev/null; then
        running=1
        say "$image: $((SECONDS - START))s  $(tail -n 1 "$build_log" 2>/dev/null | cut -c1-60 || true)"
      fi
    done
    [ "$running" = 1 ] || break
    sleep 5
  done
  for entry in "${pids[@]}"; do
    IFS=: read -r pid image build_log <<<"$entry"
    wait "$pid" || { tail -n 20 "$LOGDIR/build-${image//[:\/]/-}.log" >&2; die "building $image failed"; }
    say "localhost/$image: built"
  done
fi

step "Start 3 mail hosts, the attacker and the client on $NETWORK"
run_playbook create "$SCENARIO/create.yml"
for c in "${CONTAINERS[@]}"; do
  say "$(printf '%-13s %s' "$c" "$(podman container inspect --format "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$c")")"
done
ATTACKER_IP="$(podman container inspect --format "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" mbg-attacker)"
CLIENT_IP="$(podman container inspect --format "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" mbg-client)"

step "Configure Postfix (submission with SASL) and Dovecot (IMAP) on the mail hosts (test set-up, not the role)"
run_playbook prepare -i "$INVENTORY" "$SCENARIO/prepare.yml"

step "Deploy the guard: ansible-playbook -i inventories/local playbooks/site.yml (enforce, maxretry 4, the follow daemon)"
# The containers run as root and have no sudo: no privilege escalation inside them.
run_playbook deploy -i "$INVENTORY" playbooks/site.yml -e "@$SCENARIO/files/guard.yml"

step "Attack: wrong passwords over SMTP AUTH (587) and IMAP (143) against mbg-mail1 and mbg-mail2; the client sends mail"
run_playbook attack -i "$INVENTORY" "$SCENARIO/side_effect.yml"
for h in "${MAIL_HOSTS[@]}"; do
  failures="$(podman exec "$h" grep -cE "authentication failed|Password mismatch|unknown user" /var/log/mail.log || true)"
  say "$(printf '%-10s auth-failure log lines: %-3s  mbg_ban_v4: %s' "$h" "$failures" "$(ban_members "$h")")"
done
say "the follow daemon banned the attacker $ATTACKER_IP on the attacked hosts; the reaction time, from the log line"
say "of the failure that crossed maxretry to the address in the kernel's ban set:"
summary_of attack

step "Fleet report: ansible-playbook playbooks/report.yml"
REPORT_DIR="$ROOT/reports/demo-$(date -u +%Y-%m-%d-%H%M%S)"
run_playbook report -i "$INVENTORY" playbooks/report.yml -e "mail_bruteforce_guard_report_dir=$REPORT_DIR"
summary_of report
run_playbook check_report -i "$INVENTORY" "$SCENARIO/files/check_report.yml" -e "mail_bruteforce_guard_report_dir=$REPORT_DIR"
if [ -f "$REPORT_DIR/fleet.md" ]; then
  say "fleet.md, the attacker's line:"
  grep -F "$ATTACKER_IP" "$REPORT_DIR/fleet.md" | head -n 2 | cut -c1-200 | sed 's/^/      /'
fi

step "Share bans: ansible-playbook playbooks/share_bans.yml (addresses seen on >= 2 hosts are banned everywhere)"
run_playbook share_bans -i "$INVENTORY" playbooks/share_bans.yml
summary_of share_bans
for h in "${MAIL_HOSTS[@]}"; do
  say "$(printf '%-10s mbg_ban_v4: %s' "$h" "$(ban_members "$h")")"
done

step "Verify: the attacker is cut off from all 3 hosts, the client is not"
run_playbook verify -i "$INVENTORY" "$SCENARIO/files/check_cutoff.yml" \
  -e '{"mbg_e2e_expect_banned": ["mbg-mail1", "mbg-mail2", "mbg-mail3"]}'
say "attacker $ATTACKER_IP: new connections to 587, 143 and 993 time out on mbg-mail1, mbg-mail2, mbg-mail3"
say "client   $CLIENT_IP: reaches all hosts, sent mail and read it back over IMAP through each"

printf '\n'
bold "Demo finished in $((SECONDS - START))s."
bold "HTML report: $REPORT_DIR/report.html"
say "also fleet.json, fleet.csv and fleet.md in ${REPORT_DIR#"$ROOT"/}/"
say "Step logs: ${LOGDIR#"$ROOT"/}/"
