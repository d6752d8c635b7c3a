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

# Ansible reaches the hosts over SSH with pipelining, as it reaches production: a key pair for
# this run; each container mounts the public key as root's authorized_keys and publishes its
# SSH port on 127.0.0.1 (the scenarios' molecule.yml).
mkdir -m 0700 "$work/ssh"
ssh-keygen -q -t ed25519 -N '' -C shield-molecule -f "$work/ssh/id_ed25519"
cp "$work/ssh/id_ed25519.pub" "$work/ssh/authorized_keys"
chmod 0644 "$work/ssh/authorized_keys"
export SHIELD_MOLECULE_SSH_KEY=$work/ssh/id_ed25519
export SHIELD_MOLECULE_SSH_AUTHORIZED_KEYS=$work/ssh/authorized_keys

# A scenario whose edge makes a lab CA (edge_tls_mode: lab_ca) keeps it here for this run; its
# checks read ca.crt from the same place to verify the edge.
export SHIELD_MOLECULE_LAB_CA_DIR=$work/lab-ca

# The scenarios' checks append each failure to this file (tests/support/molecule.py); it is
# printed last, after Molecule's own summary, so the end of the log names what failed.
export SHIELD_MOLECULE_FAILURES=$work/failures.txt
[ $# -gt 0 ] || set -- default
for scenario in "$@"; do
    start=$(date +%s)
    : >"$SHIELD_MOLECULE_FAILURES"
    # SHIELD_MOLECULE_DESTROY=never keeps the hosts at the end (to look at them after a
    # failure; `podman rm -f` them afterwards). `molecule test` then skips its first destroy
    # too, so hosts left by an earlier run are destroyed here first.
    if [ "${SHIELD_MOLECULE_DESTROY:-always}" = never ]; then
        molecule destroy -s "$scenario" >/dev/null
    fi
    if ! molecule test -s "$scenario" --destroy "${SHIELD_MOLECULE_DESTROY:-always}"; then
        echo "molecule scenario $scenario: FAILED after $(($(date +%s) - start)) s" >&2
        cat "$SHIELD_MOLECULE_FAILURES" >&2
        exit 1
    fi
    echo "molecule scenario $scenario: passed in $(($(date +%s) - start)) s"
done
