#!/usr/bin/env bash
# Build the Debian 12 image with systemd as PID 1 that Molecule and the demo run as hosts.
#
# No image registry is needed: debootstrap builds the root file system from Debian's
# mirror and `podman import` turns it into localhost/shield-debian:12. The image is built
# once and reused; SHIELD_REBUILD_IMAGE=1 rebuilds it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=podman-env.sh
. "$here/podman-env.sh"

image=${SHIELD_BASE_IMAGE:-localhost/shield-debian:12}
mirror=${SHIELD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a minimal Debian server has (sudo for become, python3-apt for the apt module in check
# mode), plus what testinfra needs (ss).
packages=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,ca-certificates,procps,sudo

if [ "${SHIELD_REBUILD_IMAGE:-0}" != 1 ] && podman image exists "$image"; then
    echo "base image $image: present"
    exit 0
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "base image $image: debootstrap bookworm from $mirror (about 2 minutes)"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >/dev/null
# The image is a host, not an application container: no policy-rc.d, a machine id made at boot.
: > "$rootfs/etc/machine-id"
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" \
    > "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# No package lists, and old enough that apt's cache_valid_time sees them as stale: the first
# apt task on the host updates them, as on a newly provisioned server.
touch -d @0 "$rootfs/var/lib/apt/lists"
tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$image" >/dev/null
echo "base image $image: built"
