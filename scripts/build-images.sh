#!/usr/bin/env bash
# Builds the local systemd container images the tests and the demo use (no registry is needed):
#   localhost/mbg-debian:11|12|13  systemd, python3, iptables, ipset, rsyslog (molecule default scenario)
#   localhost/mbg-mail:12|13       the same plus real Postfix and Dovecot (2.3 on 12, 2.4 on 13: the end-to-end
#                                  mail scenario, the demo)
#   localhost/mbg-coexist:12|13    mail hosts that also run ufw, fail2ban and nftables.service (molecule coexist;
#                                  nothing is installed at test time; about 2 minutes each)
# An image that exists is skipped. Usage: scripts/build-images.sh [IMAGE...]   (default: all)
set -euo pipefail

MIRROR="${MBG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${MBG_BUILD_DIR:-/var/tmp/mbg-rootfs}"
BASE_PKGS="python3,python3-apt,systemd,systemd-sysv,dbus,iptables,ipset,procps,iproute2,rsyslog,ca-certificates"
MAIL_PKGS="$BASE_PKGS,postfix,dovecot-core,dovecot-imapd,dovecot-pop3d"
# The other firewall tools a real mail server runs next to the guard; python3-systemd for fail2ban's journal backend.
COEXIST_PKGS="$MAIL_PKGS,ufw,fail2ban,python3-systemd,nftables"

declare -A SUITE=([11]=bullseye [12]=bookworm [13]=trixie)

log() { printf '\033[1m[build-images]\033[0m %s\n' "$*"; }

build() {  # build NAME:TAG SUITE PACKAGES
  local ref="localhost/$1" suite="$2" pkgs="$3"
  if podman image exists "$ref"; then
    log "$ref exists, skipped"
    return 0
  fi
  local root="$CACHE/${1//[:\/]/-}"
  rm -rf "$root"
  mkdir -p "$root"
  log "$ref: debootstrap $suite (about a minute; output in $root.log)"
  local start=$SECONDS
  if ! DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$MIRROR" \
      >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    log "debootstrap of $suite failed (see $root.log)" >&2
    return 1
  fi
  # A privileged container must not copy the host's kernel log; an empty machine-id is set at boot.
  sed -i 's/^module(load="imklog")/#&/' "$root/etc/rsyslog.conf"
  : >"$root/etc/machine-id"
  rm -f "$root"/var/cache/apt/archives/*.deb
  rm -rf "$root"/var/lib/apt/lists/*
  # No units that wait for hardware or a console inside a container.
  for unit in getty@tty1.service systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  # The firewall tools start switched off: each test host enables the one it is about.
  for unit in fail2ban.service nftables.service ufw.service; do
    rm -f "$root/etc/systemd/system/multi-user.target.wants/$unit" "$root/etc/systemd/system/sysinit.target.wants/$unit"
  done
  tar -C "$root" -c . | podman import --quiet --change 'CMD ["/sbin/init"]' - "$ref" >/dev/null
  rm -rf "$root"
  log "$ref built in $((SECONDS - start)) s"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(mbg-debian:11 mbg-debian:12 mbg-debian:13 mbg-mail:12 mbg-mail:13 mbg-coexist:12 mbg-coexist:13)
for t in "${targets[@]}"; do
  case "$t" in
    mbg-debian:11|mbg-debian:12|mbg-debian:13) build "$t" "${SUITE[${t#*:}]}" "$BASE_PKGS" ;;
    mbg-mail:12|mbg-mail:13) build "$t" "${SUITE[${t#*:}]}" "$MAIL_PKGS" ;;
    mbg-coexist:12|mbg-coexist:13) build "$t" "${SUITE[${t#*:}]}" "$COEXIST_PKGS" ;;
    *) echo "build-images: unknown image $t" >&2; exit 2 ;;
  esac
done
