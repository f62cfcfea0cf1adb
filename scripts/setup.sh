#!/usr/bin/env bash
# Install everything sandprint needs on a Debian/Ubuntu machine, idempotently, then run
# one of: `demo` (the whole loop on an example), `test` (the test suite), or nothing.
#
#   bash scripts/setup.sh demo
#   bash scripts/setup.sh test [PYTEST ARGS...]
#
# What it does, each step skipped when already done:
#   1. Debian packages: bcc (python3-bpfcc, bpfcc-tools), bpftool, libseccomp, podman + runc,
#      busybox-static (tiny test images), strace (benchmarks), oci-seccomp-bpf-hook (comparison),
#      chromium (the HTML report is tested in a real headless browser), and the real servers
#      of tests/test_real_servers.py: nginx-light, postgresql, curl, make, gcc, libc6-dev, and
#      containerd + containernetworking-plugins (tests/cri: pods through the CRI), nodejs
#      (the rare-path suite, tests/test_rare_paths.py). Their
#      services are not started on install (a policy-rc.d says no while apt runs, when the host
#      has none of its own): the tests run private instances on other ports and paths.
#   2. Kernel headers for bcc: the running kernel's package when Debian has it; otherwise the
#      nearest linux-headers-6.1 package for this architecture, linked at
#      /lib/modules/$(uname -r)/build (and `source`). bcc only needs them to compile; the BPF
#      programs never read kernel structures, so another kernel's headers are safe.
#   3. tracefs mounted at /sys/kernel/tracing.
#   4. A virtual environment in .venv with sandprint and its test extras, and Debian's `bcc`
#      module (only that one) made importable in it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SANDPRINT_VENV:-$here/.venv}"
action="${1:-}"
[ $# -gt 0 ] && shift

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (BPF, seccomp and podman tests need it): sudo bash $0 $action"
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -q >/dev/null
        apt_updated=1
    fi
}
missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
    done
}

# --- 1. Debian packages -------------------------------------------------------------------
pkgs=(python3-bpfcc bpfcc-tools bpftool libseccomp2 podman runc conmon slirp4netns uidmap
      fuse-overlayfs busybox-static strace oci-seccomp-bpf-hook iproute2 procps ca-certificates
      chromium nginx-light postgresql curl make gcc libc6-dev containerd
      containernetworking-plugins nodejs)
need=$(missing_pkgs "${pkgs[@]}")
if [ -n "$need" ]; then
    apt_update_once
    log "installing: $(echo $need)"
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        # no service starts during this install (nginx would take port 80, postgresql 5432)
        printf '#!/bin/sh\n# sandprint setup.sh: no service starts while it installs\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $need >/dev/null
    if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
fi

# --- 2. kernel headers --------------------------------------------------------------------
krel="$(uname -r)"
moddir="/lib/modules/$krel"
if [ ! -e "$moddir/build/include/linux/kconfig.h" ] && [ ! -e "$moddir/build/include/generated/autoconf.h" ]; then
    apt_update_once
    if apt-cache show "linux-headers-$krel" >/dev/null 2>&1; then
        log "installing linux-headers-$krel"
        apt-get install -y -q --no-install-recommends "linux-headers-$krel" >/dev/null
    else
        arch="$(dpkg --print-architecture)"
        flavour="cloud-$arch"
        pick=$(apt-cache search --names-only "^linux-headers-6\.1\.0-[0-9]+-$flavour\$" | awk '{print $1}' | sort -V | tail -n 1)
        if [ -z "$pick" ]; then
            flavour="$arch"
            pick=$(apt-cache search --names-only "^linux-headers-6\.1\.0-[0-9]+-$flavour\$" | awk '{print $1}' | sort -V | tail -n 1)
        fi
        if [ -z "$pick" ]; then
            log "no linux-headers package for $krel nor a 6.1 fallback; bcc cannot compile"
            exit 1
        fi
        log "no headers package for kernel $krel; using the nearest: $pick"
        [ -n "$(missing_pkgs "$pick")" ] && apt-get install -y -q --no-install-recommends "$pick" >/dev/null
        ver="${pick#linux-headers-}"
        common="/usr/src/linux-headers-${ver%-$flavour}-common"
        mkdir -p "$moddir"
        ln -sfn "/usr/src/linux-headers-$ver" "$moddir/build"
        [ -d "$common" ] && ln -sfn "$common" "$moddir/source"
    fi
fi

# --- 3. tracefs ---------------------------------------------------------------------------
if [ ! -e /sys/kernel/tracing/events ]; then
    log "mounting tracefs at /sys/kernel/tracing"
    mount -t tracefs tracefs /sys/kernel/tracing
fi

# --- 4. virtual environment ---------------------------------------------------------------
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    log "creating virtual environment $venv"
    "$py" -m venv "$venv"
fi
stamp="$venv/.sandprint-installed"
if [ ! -e "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    log "installing sandprint into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q -e "$here[test]"
    touch "$stamp"
fi
# Debian's bcc is a pure-Python module over libbcc; link that one package in, nothing else
# from /usr/lib/python3/dist-packages.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ ! -e "$site/bcc/__init__.py" ]; then
    ln -sfn /usr/lib/python3/dist-packages/bcc "$site/bcc"
fi
"$venv/bin/python" -c 'import bcc' || { log "bcc is not importable in $venv"; exit 1; }

case "$action" in
    demo) exec "$venv/bin/sandprint" demo "$@" ;;
    test) cd "$here" && exec "$venv/bin/python" -m pytest "$@" ;;
    "") log "ready: $venv/bin/sandprint" ;;
    *) log "unknown action '$action' (expected demo, test or nothing)"; exit 2 ;;
esac
