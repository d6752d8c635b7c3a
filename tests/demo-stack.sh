#!/usr/bin/env bash
# `make demo`: deploy the Shield RAG stack with this collection into ONE local systemd
# container, ingest the sample documents and print answers and URLs. `make demo-stop`
# (`tests/demo-stack.sh stop`) removes that container, and only it.
#
#   1. artifacts: the base image, the wheelhouse and the Qdrant stand-in's release archive
#      (tests/stack-artifacts.sh, all cached);
#   2. the container (Debian 12, systemd as PID 1, privileged; see tests/images), created or,
#      when it runs already, reused: a re-run re-converges the same host. It runs sshd (keys
#      only): an ed25519 key of the demo's own, generated once into .cache/demo/<container>/ssh
#      (0700, key files 0600), has its public half mounted read-only as root's
#      authorized_keys, and port 22 is published on 127.0.0.1;
#   3. secrets, generated on the first run into .cache/demo/<container>/secrets.yml (0600) and
#      reused: the plays get them with -e @file;
#   4. tests/playbooks/standins.yml (the Ollama stand-in) and playbooks/site.yml with
#      inventories/local, logs under .cache/demo/<container>/logs. The plays reach the host
#      over SSH with pipelining and ControlPersist (one connection for the run, one round trip
#      per task), as they reach a real server: a second inventory source,
#      .cache/demo/<container>/connection-ssh.yml (ansible_host 127.0.0.1, the published
#      port, the key), whose host vars override inventories/local's podman connection (not
#      extra vars: those would also redirect the tasks delegated to localhost).
#      SHIELD_DEMO_CONNECTION=podman uses .cache/demo/<container>/connection-podman.yml
#      instead: the containers.podman.podman connection (`podman exec`, no SSH), slower;
#   5. python -m tests.demo_stack: ingest, ask (orchestrator, MCP server), print.
#
# `tests/demo-stack.sh deploy` does steps 1-4 only (the benchmarks, tests/bench/converge.py,
# deploy the host this way and re-run step 4's site.yml command line on it).
#
# A container created before the demo used SSH publishes no port 22: with the ssh connection
# the script stops and asks for `make demo-stop` first (it does not remove a container by
# itself; the secrets and the key are kept, the ingested documents go with the container).
#
# Environment: SHIELD_DEMO_CONTAINER (default shield-demo); SHIELD_DEMO_CONNECTION (ssh, the
# default, or podman); the controller ports published on 127.0.0.1 when the container is
# created: SHIELD_DEMO_ORCHESTRATOR_PORT (8600), SHIELD_DEMO_MCP_PORT (8601),
# SHIELD_DEMO_LIGHTRAG_PORT (9621), SHIELD_DEMO_QDRANT_PORT (6333), SHIELD_DEMO_SSH_PORT (8622,
# to the container's 22); a default port that is taken is replaced by a free one. Expects ANSIBLE_HOME and
# ANSIBLE_COLLECTIONS_PATH as the Makefile exports them (shield.rag = this checkout).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=images/podman-env.sh
. tests/images/podman-env.sh
export PATH="${SHIELD_VENV:-$root/.venv}/bin:$PATH"

container=${SHIELD_DEMO_CONTAINER:-shield-demo}
image=${SHIELD_BASE_IMAGE:-localhost/shield-debian:12}
state=.cache/demo/$container
logs=$state/logs
secrets=$state/secrets.yml
ssh_dir=$state/ssh
ssh_key=$ssh_dir/id_ed25519
connection=${SHIELD_DEMO_CONNECTION:-ssh}

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

mode=${1:-up}
if [ "$mode" = stop ]; then
    if podman container exists "$container"; then
        podman rm --force --time 10 "$container" >/dev/null
        echo "demo: container $container removed (secrets kept in $secrets, SSH key in $ssh_dir)"
    else
        echo "demo: no container $container"
    fi
    exit 0
fi
[ "$mode" = up ] || [ "$mode" = deploy ] || die "usage: $0 [up|deploy|stop]"
[ -n "${ANSIBLE_COLLECTIONS_PATH:-}" ] || die "run it with 'make demo' (ANSIBLE_COLLECTIONS_PATH)"
[ "$connection" = ssh ] || [ "$connection" = podman ] \
    || die "SHIELD_DEMO_CONNECTION=$connection: give ssh or podman"

start=$SECONDS
mkdir -p "$logs"

# --- 1. artifacts ---------------------------------------------------------------------------
say "1/5 artifacts: base image (~70 s the first time), wheelhouse (~60 s), Qdrant stand-in"
# shellcheck source=stack-artifacts.sh
. tests/stack-artifacts.sh
shield_stack_artifacts "$root/$state/artifacts"  # absolute: the roles read it on the controller

# --- 2. container ---------------------------------------------------------------------------
port_free() {
    python -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}
# host_port VAR DEFAULT: the port named in $VAR (must be free), else DEFAULT if free, else any.
host_port() {
    local wanted=${!1:-}
    if [ -n "$wanted" ]; then
        port_free "$wanted" || die "$1=$wanted: port 127.0.0.1:$wanted is taken"
        echo "$wanted"
    elif port_free "$2"; then
        echo "$2"
    else
        python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
    fi
}
published() {
    local p
    p=$(podman port "$container" "$1/tcp" 2>/dev/null) && [ -n "$p" ] || return 1
    echo "${p##*:}"
}

# The demo's own SSH key, made once (the container mounts its public half): kept with the
# secrets, never printed.
if [ ! -s "$ssh_key" ] || [ ! -s "$ssh_key.pub" ]; then
    (umask 077 && mkdir -p "$ssh_dir" && rm -f "$ssh_key" "$ssh_key.pub" \
        && ssh-keygen -q -t ed25519 -N '' -C "shield-demo $container" -f "$ssh_key")
fi
chmod 700 "$ssh_dir"
chmod 600 "$ssh_key" "$ssh_key.pub"

running=$(podman container inspect --format '{{.State.Running}}' "$container" 2>/dev/null || true)
if [ "$running" = true ]; then
    say "2/5 container $container: running, re-converging it"
elif [ -n "$running" ]; then
    say "2/5 container $container: stopped, starting it"
    podman start "$container" >/dev/null
else
    say "2/5 container $container: creating it from $image"
    args=()
    for spec in ORCHESTRATOR:8600 MCP:8601 LIGHTRAG:9621 QDRANT:6333; do
        port=$(host_port "SHIELD_DEMO_${spec%%:*}_PORT" "${spec#*:}")
        args+=(--publish "127.0.0.1:$port:${spec#*:}/tcp")
    done
    args+=(--publish "127.0.0.1:$(host_port SHIELD_DEMO_SSH_PORT 8622):22/tcp")
    args+=(--volume "$root/$ssh_key.pub:/root/.ssh/authorized_keys:ro")
    podman run --detach --name "$container" --hostname "$container" \
        --label io.shield-rag.demo=true --privileged --systemd=always \
        "${args[@]}" "$image" /sbin/init >/dev/null
fi
if ! { orchestrator_port=$(published 8600) && mcp_port=$(published 8601) \
    && lightrag_port=$(published 9621) && qdrant_port=$(published 6333); }; then
    die "container $container does not publish 8600, 8601, 9621 and 6333: make demo-stop first"
fi
ssh_port=$(published 22) || ssh_port=
if [ -z "$ssh_port" ] && [ "$connection" = ssh ]; then
    die "container $container was created before the demo reached it over SSH (no port 22" \
        "published): run 'make demo-stop' first, then 'make demo' again (secrets are kept;" \
        "the documents ingested into it go), or keep it with SHIELD_DEMO_CONNECTION=podman"
fi
deadline=$((SECONDS + 120))
until state_now=$(podman exec "$container" systemctl is-system-running 2>/dev/null) \
    || [[ $state_now = degraded ]]; do
    [ "$SECONDS" -lt "$deadline" ] || die "systemd in $container not up after 120 s: $state_now"
    sleep 1
done
echo "systemd in $container: ${state_now}"

# How the plays reach the host: an inventory source each, read after inventories/local, whose
# host vars override its podman connection (tests/bench/converge.py reads these files too).
printf '%s\n' "# Written by tests/demo-stack.sh: the podman connection to $container." \
    "all:" "  hosts:" "    shield-demo:" "      ansible_connection: containers.podman.podman" \
    "      ansible_host: $container" >"$state/connection-podman.yml"
if [ -n "$ssh_port" ]; then
    ssh_common="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    ssh_common+=" -o IdentitiesOnly=yes"
    printf '%s\n' "# Written by tests/demo-stack.sh: SSH to $container (root, the demo's key)," \
        "# with pipelining and ControlPersist. A throw-away local container: its host key is" \
        "# not checked." "all:" "  hosts:" "    shield-demo:" "      ansible_connection: ssh" \
        "      ansible_host: 127.0.0.1" "      ansible_port: $ssh_port" \
        "      ansible_user: root" "      ansible_ssh_private_key_file: '$root/$ssh_key'" \
        "      ansible_ssh_common_args: $ssh_common" \
        "      ansible_ssh_args: -o ControlMaster=auto -o ControlPersist=120s" \
        "      ansible_ssh_pipelining: true" >"$state/connection-ssh.yml"
else
    rm -f "$state/connection-ssh.yml"
fi
if [ "$connection" = ssh ]; then
    # sshd starts with the container: wait until it lets the demo's key in.
    deadline=$((SECONDS + 60))
    # shellcheck disable=SC2086 # $ssh_common: several options, split on purpose
    until ssh -i "$ssh_key" $ssh_common -o BatchMode=yes -o ConnectTimeout=5 -p "$ssh_port" \
        root@127.0.0.1 true 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || die "SSH to $container (127.0.0.1:$ssh_port) does not" \
            "let the demo's key in after 60 s: make demo-stop first, or SHIELD_DEMO_CONNECTION=podman"
        sleep 1
    done
    echo "SSH to $container: 127.0.0.1:$ssh_port, key $ssh_key"
fi
container_done=$SECONDS

# --- 3. secrets -----------------------------------------------------------------------------
if [ ! -s "$secrets" ]; then
    say "3/5 secrets: generating $secrets"
    (umask 077 && python -c 'import secrets, sys
names = ["shield_redis_password", "shield_qdrant_api_key", "shield_lightrag_api_key",
         "shield_orchestrator_api_key", "fastmcp_server_auth_token"]
with open(sys.argv[1], "w") as out:
    for name in names:
        value = secrets.token_hex(24)
        while value.isdigit():  # would read back as a YAML integer
            value = secrets.token_hex(24)
        out.write(f"{name}: {value}\n")' "$secrets")
else
    say "3/5 secrets: reusing $secrets"
fi
chmod 600 "$secrets"

# --- 4. converge ----------------------------------------------------------------------------
# playbook NAME ARGS...: run ansible-playbook on inventories/local and the connection's
# inventory source, log to $logs/NAME.log, print each play as it starts; on failure say where
# the log is and show its end.
playbook() {
    local name=$1 log=$logs/$1.log
    shift
    if ! ansible-playbook -i inventories/local -i "$state/connection-$connection.yml" "$@" 2>&1 \
        | tee "$log" | sed -un 's/^PLAY \[\(.*\)\] \**$/    play: \1/p'; then
        tail -n 40 "$log" >&2
        die "ansible-playbook $name failed; the whole log is $log"
    fi
}
# recap LOG: the container's PLAY RECAP counters (site.yml's first play, on the controller,
# has a line of its own)
recap() {
    awk -v host="$container" '/^PLAY RECAP/ { counters = 1; next }
        counters && $1 == host { sub(/^[^:]*: +/, ""); gsub(/ +/, " "); print; exit }' "$1"
}
# changed_tasks LOG: the tasks (and handlers) that reported "changed"
changed_tasks() {
    awk '/^(TASK|RUNNING HANDLER) \[/ { task = $0; sub(/ \**$/, "", task) }
         /^changed: / { print "      " task }' "$1"
}

say "4/5 stand-ins: the Python the Qdrant and Ollama stand-in archives run with (tests/playbooks)"
playbook standins tests/playbooks/standins.yml
echo "    standins.yml: $(recap "$logs/standins.log")"

say "4/5 converge: playbooks/site.yml with inventories/local over $connection (minutes the first time)"
converge_start=$SECONDS
# tests/bench/converge.py re-runs this command line (same -e arguments): keep them in step.
playbook site playbooks/site.yml -e @"$secrets" \
    -e qdrant_archive_local_path="$SHIELD_QDRANT_ARCHIVE" \
    -e qdrant_version="$SHIELD_QDRANT_VERSION" \
    -e qdrant_archive_sha256="$SHIELD_QDRANT_SHA256" \
    -e ollama_archive_local_path="$SHIELD_OLLAMA_ARCHIVE" \
    -e ollama_version="$SHIELD_OLLAMA_VERSION" \
    -e ollama_archive_sha256="$SHIELD_OLLAMA_SHA256"
converge_done=$SECONDS
site_recap=$(recap "$logs/site.log")
echo "    site.yml in $((converge_done - converge_start)) s: $site_recap (log $logs/site.log)"
# Converging again what converged before (same container, same wheelhouse) must change
# nothing: the roles are idempotent. Say which tasks did if some did.
converged="$(podman container inspect --format '{{.Id}}' "$container") $SHIELD_WHEELHOUSE_ARCHIVE"
if [ "$(cat "$state/converged" 2>/dev/null)" = "$converged" ] \
    && [[ $site_recap != *" changed=0 "* ]]; then
    echo "    NOTE: this re-converge should have changed nothing; these tasks did:"
    changed_tasks "$logs/site.log"
fi
echo "$converged" >"$state/converged"

# --- 5. use it ------------------------------------------------------------------------------
if [ "$mode" = deploy ]; then
    echo "demo: deployed in $((SECONDS - start)) s (artifacts and container" \
        "$((container_done - start)) s, converge $((converge_done - converge_start)) s), no queries"
    exit 0
fi
say "5/5 ingest and ask through the published ports"
python -m tests.demo_stack --container "$container" --secrets "$secrets" \
    --orchestrator-url "http://127.0.0.1:$orchestrator_port" \
    --mcp-url "http://127.0.0.1:$mcp_port/mcp" \
    --lightrag-url "http://127.0.0.1:$lightrag_port" \
    --qdrant-url "http://127.0.0.1:$qdrant_port" \
    || die "the demo queries failed; service logs: podman exec $container journalctl -u 'shield-*'"

echo
echo "demo: $((SECONDS - start)) s in all (artifacts and container $((container_done - start)) s," \
    "converge $((converge_done - converge_start)) s, queries $((SECONDS - converge_done)) s)"
