#!/usr/bin/env bash
# Tools the git source integration tests need: git (daemon, http-backend),
# OpenSSH server and client, gnupg (signed commits). Idempotent: quick when present.
set -euo pipefail

need=()
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
[ -x /usr/lib/git-core/git-daemon ] || need+=(git-daemon-run)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
command -v gpg-agent >/dev/null 2>&1 || need+=(gpg-agent)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

# Deduplicate; git-daemon ships inside the `git` package on Debian.
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sed 's/^git-daemon-run$/git/' | sort -u)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
# Debian's postinst starts/enables sshd; the tests run their own on a loopback port.
