#!/usr/bin/env bash
# Run Molecule scenarios the way CI does: tests/molecule.sh [scenario ...] (default: default).
#
# Prepares what the scenarios read, then runs `molecule test` for each, one after another:
#   - the base image localhost/shield-debian:12 (built once, cached by podman);
#   - the wheelhouse archive of the shield-rag package and its dependencies (pip inside the
#     containers cannot reach PyPI), cached by a hash of pyproject.toml and src/;
#   - a "Qdrant release archive" whose qdrant is the Qdrant stand-in (tests/standins);
#   - the collection built with `ansible-galaxy collection build` and installed into a
#     temporary ANSIBLE_COLLECTIONS_PATH: the scenarios run shield.rag.* from the artifact;
#   - fresh random secrets for this run, in the environment only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=images/podman-env.sh
. tests/images/podman-env.sh
venv=${SHIELD_VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
python=$venv/bin/python

cache=${SHIELD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shield-rag}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bash tests/images/build-base-image.sh

key=$(find pyproject.toml README.md src -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
    ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
export SHIELD_WHEELHOUSE_ARCHIVE=$cache/wheelhouse-$key.tar.gz
if [ ! -f "$SHIELD_WHEELHOUSE_ARCHIVE" ]; then
    echo "wheelhouse: building $SHIELD_WHEELHOUSE_ARCHIVE"
    find "$cache" -maxdepth 1 -name 'wheelhouse-*.tar.gz' -delete
    ansible-playbook -i localhost, playbooks/wheelhouse.yml \
        -e shield_wheelhouse_archive="$SHIELD_WHEELHOUSE_ARCHIVE" >"$work/wheelhouse.log" \
        || { cat "$work/wheelhouse.log"; exit 1; }
    rm -rf build  # left by pip's in-tree build of the package
else
    echo "wheelhouse: $SHIELD_WHEELHOUSE_ARCHIVE (cached)"
fi

# The stand-in's interpreter is the virtualenv prepare.yml creates on the test host.
export SHIELD_QDRANT_VERSION=1.15.5
export SHIELD_QDRANT_ARCHIVE="$work/qdrant/qdrant-x86_64-unknown-linux-gnu.tar.gz"
"$python" -c 'import sys; from pathlib import Path
from tests.standins.qdrant.release import build_release_archive
build_release_archive(Path(sys.argv[1]), version=sys.argv[2],
                      interpreter="/opt/shield-standins/venv/bin/python")' \
    "$work/qdrant" "$SHIELD_QDRANT_VERSION"

ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
ansible-galaxy collection install --force -p "$work/collections" "$work"/dist/shield-rag-*.tar.gz \
    >/dev/null
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
echo "collection: $(ls "$work"/dist) installed into a temporary collections path"

secret() { "$python" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
SHIELD_MOLECULE_REDIS_PASSWORD=$(secret)
SHIELD_MOLECULE_QDRANT_API_KEY=$(secret)
SHIELD_MOLECULE_LIGHTRAG_API_KEY=$(secret)
SHIELD_MOLECULE_ORCHESTRATOR_API_KEY=$(secret)
SHIELD_MOLECULE_MCP_TOKEN=$(secret)
export SHIELD_MOLECULE_REDIS_PASSWORD SHIELD_MOLECULE_QDRANT_API_KEY \
    SHIELD_MOLECULE_LIGHTRAG_API_KEY SHIELD_MOLECULE_ORCHESTRATOR_API_KEY SHIELD_MOLECULE_MCP_TOKEN

[ $# -gt 0 ] || set -- default
for scenario in "$@"; do
    start=$(date +%s)
    molecule test -s "$scenario"
    echo "molecule scenario $scenario: passed in $(($(date +%s) - start)) s"
done
