#!/usr/bin/env bash
# Run Molecule scenarios the way CI does: tests/molecule.sh [scenario ...] (default: default).
#
# Prepares what the scenarios read, then runs `molecule test` for each, one after another:
#   - base image, wheelhouse and Qdrant stand-in release archive (tests/stack-artifacts.sh);
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=stack-artifacts.sh
. tests/stack-artifacts.sh
shield_stack_artifacts "$work"

export ANSIBLE_COLLECTIONS_PATH="$work/collections"
ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
ansible-galaxy collection install --force -p "$work/collections" "$work"/dist/shield-rag-*.tar.gz \
    >/dev/null
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
