#!/usr/bin/env bash
# Build the Debian images with systemd as PID 1 that Molecule and the demo run as hosts:
#   tests/images/build-base-image.sh [VERSION ...]   (default: 12 13)
# 12 is localhost/shield-debian:12 (bookworm, Python 3.11), 13 is localhost/shield-debian:13
# (trixie, Python 3.13): the two releases the roles support (see molecule/README.md for which
# scenario runs on which).
#
# No image registry is needed: debootstrap builds the root file system from Debian's
# mirror and `podman import` turns it into the image. Each image is built once and reused
# (only missing or outdated ones are built: the image carries a label with the digest of this
# script, so a change to what goes into it rebuilds it); SHIELD_REBUILD_IMAGE=1 rebuilds them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=podman-env.sh
. "$here/podman-env.sh"

mirror=${SHIELD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a minimal Debian server has (sudo for become, python3-apt for the apt module in check
# mode, openssh-server: Ansible reaches the hosts over SSH with pipelining, as it reaches
# production), plus what testinfra needs (ss).
packages=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,ca-certificates,procps,sudo
packages=$packages,openssh-server
recipe=$(sha256sum "$0" | cut -c1-16)

build() {
    local version=$1 suite image rootfs
    case $version in
        12) suite=bookworm ;;
        13) suite=trixie ;;
        *) echo "build-base-image: unknown Debian version '$version' (12 or 13)" >&2; return 2 ;;
    esac
    image=localhost/shield-debian:$version

    if [ "${SHIELD_REBUILD_IMAGE:-0}" != 1 ] && podman image exists "$image" \
        && [ "$(podman image inspect --format '{{ index .Config.Labels "shield.recipe" }}' \
            "$image")" = "$recipe" ]; then
        echo "base image $image: present"
        return 0
    fi

    rootfs=$(mktemp -d)
    # shellcheck disable=SC2064  # the path is fixed now, the trap runs later
    trap "rm -rf '$rootfs'" EXIT
    echo "base image $image: debootstrap $suite from $mirror (about 2 minutes)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >/dev/null
    # The image is a host, not an application container: no policy-rc.d, a machine id made at
    # boot.
    : > "$rootfs/etc/machine-id"
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" \
        > "$rootfs/etc/apt/sources.list"
    # trixie's debootstrap also writes deb822 sources: one list of sources, the one above.
    rm -f "$rootfs"/etc/apt/sources.list.d/*
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # No package lists, and old enough that apt's cache_valid_time sees them as stale: the
    # first apt task on the host updates them, as on a newly provisioned server.
    touch -d @0 "$rootfs/var/lib/apt/lists"
    # SSH: keys only (test runs mount their public key as root's authorized_keys), no DNS
    # lookups of the client. The host keys made at install are shared by the containers of
    # this test image; the test runs do not check them (their hosts are throw-away).
    printf 'PasswordAuthentication no\nUseDNS no\n' > "$rootfs/etc/ssh/sshd_config.d/shield.conf"
    tar -C "$rootfs" -c . | podman import \
        --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL shield.recipe=$recipe" - "$image" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "base image $image: built"
}

[ $# -gt 0 ] || set -- 12 13
for version in "$@"; do
    build "$version"
done
