# shellcheck shell=bash
# Sourced by the scripts that run podman: use the project's containers.conf, not the host's.
_shield_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CONTAINERS_CONF="$_shield_root/.config/containers/containers.conf"
unset _shield_root
