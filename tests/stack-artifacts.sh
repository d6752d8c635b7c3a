# shellcheck shell=bash
# Sourced by tests/molecule.sh and the container demo: prepares what a deployment of the stack
# onto the local systemd containers reads, and exports where it is.
#   - the base images localhost/shield-debian:12 and :13 (built once, cached by podman);
#   - SHIELD_WHEELHOUSE_ARCHIVE: the wheelhouse of the shield-rag package and its locked
#     dependencies for Python 3.11 and 3.13 (pip inside the containers cannot reach PyPI),
#     cached by a hash of what it is built from (pyproject.toml, requirements/services.lock,
#     src/ and the wheelhouse playbook) under ${SHIELD_CACHE_DIR:-~/.cache/shield-rag};
#   - SHIELD_QDRANT_ARCHIVE, SHIELD_QDRANT_VERSION, SHIELD_QDRANT_SHA256: a "Qdrant release
#     archive" whose qdrant is the Qdrant stand-in (tests/standins), written under $1;
#   - SHIELD_OLLAMA_ARCHIVE, SHIELD_OLLAMA_VERSION, SHIELD_OLLAMA_SHA256: an "Ollama release
#     archive" whose ollama is the Ollama stand-in, written under $1.
# Needs: the project's virtualenv on PATH, CONTAINERS_CONF (tests/images/podman-env.sh).

shield_stack_artifacts() {
    local out=$1 cache key log
    cache=${SHIELD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shield-rag}
    mkdir -p "$cache" "$out"

    bash tests/images/build-base-image.sh

    # README.md is the package's long description only: a change to it alone keeps the archive.
    key=$(find pyproject.toml requirements/services.lock requirements/installer.lock src \
        playbooks/wheelhouse.yml playbooks/files/wheelhouse_lock.py -type f \
        ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
    export SHIELD_WHEELHOUSE_ARCHIVE=$cache/wheelhouse-$key.tar.gz
    if [ ! -f "$SHIELD_WHEELHOUSE_ARCHIVE" ]; then
        echo "wheelhouse: building $SHIELD_WHEELHOUSE_ARCHIVE (about two minutes)"
        # Older archives go, but not one a concurrent run (Molecule, the demo) may still read.
        find "$cache" -maxdepth 1 -name 'wheelhouse-*.tar.gz' -mmin +180 -delete
        log=$out/wheelhouse.log
        rm -f "$SHIELD_WHEELHOUSE_ARCHIVE.part"  # left by an interrupted build
        ansible-playbook -i localhost, playbooks/wheelhouse.yml \
            -e shield_wheelhouse_archive="$SHIELD_WHEELHOUSE_ARCHIVE.part" >"$log" \
            || { cat "$log"; return 1; }
        # Reproducible: a second, independent build of the shield-rag wheel (the one file the
        # playbook builds; the others are checked against the lock's hashes) is the same file.
        # The playbook keeps an archive that exists: the one an earlier build of other sources
        # left here must go first.
        rm -f "$out/wheelhouse-again.tar.gz"
        ansible-playbook -i localhost, playbooks/wheelhouse.yml \
            -e shield_wheelhouse_archive="$out/wheelhouse-again.tar.gz" \
            -e shield_wheelhouse_dependencies=false >>"$log" \
            || { cat "$log"; return 1; }
        local first second
        first=$(tar -xzOf "$SHIELD_WHEELHOUSE_ARCHIVE.part" --wildcards './shield_rag-*.whl' | sha256sum)
        second=$(tar -xzOf "$out/wheelhouse-again.tar.gz" --wildcards './shield_rag-*.whl' | sha256sum)
        if [ "$first" != "$second" ]; then
            echo "wheelhouse: two builds of the shield-rag wheel differ (${first%% *}, ${second%% *})" >&2
            rm -f "$SHIELD_WHEELHOUSE_ARCHIVE.part"
            return 1
        fi
        mv "$SHIELD_WHEELHOUSE_ARCHIVE.part" "$SHIELD_WHEELHOUSE_ARCHIVE"
        echo "wheelhouse: shield-rag wheel reproducible (sha256 ${first%% *}, built twice)"
    else
        echo "wheelhouse: $SHIELD_WHEELHOUSE_ARCHIVE (cached)"
    fi

    # The stand-in's interpreter is the virtualenv tests/playbooks/standins.yml creates on the
    # host. The version is the role's default release; the checksum is this archive's, so the
    # role's checksum verification runs as it does for a real archive.
    export SHIELD_QDRANT_VERSION=1.19.1
    export SHIELD_QDRANT_ARCHIVE
    SHIELD_QDRANT_ARCHIVE=$(python -c 'import sys; from pathlib import Path
from tests.standins.qdrant.release import build_release_archive
print(build_release_archive(Path(sys.argv[1]), version=sys.argv[2],
                            interpreter="/opt/shield-standins/venv/bin/python"))' \
        "$out/qdrant" "$SHIELD_QDRANT_VERSION")
    export SHIELD_QDRANT_SHA256
    SHIELD_QDRANT_SHA256=$(sha256sum "$SHIELD_QDRANT_ARCHIVE" | cut -d' ' -f1)
    echo "qdrant: stand-in release archive $SHIELD_QDRANT_VERSION ($SHIELD_QDRANT_SHA256)"

    # The same for Ollama: an "Ollama release archive" (bin/ollama, lib/ollama/) whose ollama
    # is the Ollama stand-in, for the ollama role's real install, unit and model management.
    export SHIELD_OLLAMA_VERSION=0.12.6
    export SHIELD_OLLAMA_ARCHIVE
    SHIELD_OLLAMA_ARCHIVE=$(python -c 'import sys; from pathlib import Path
from tests.standins.ollama.release import build_release_archive
print(build_release_archive(Path(sys.argv[1]), version=sys.argv[2],
                            interpreter="/opt/shield-standins/venv/bin/python"))' \
        "$out/ollama" "$SHIELD_OLLAMA_VERSION")
    export SHIELD_OLLAMA_SHA256
    SHIELD_OLLAMA_SHA256=$(sha256sum "$SHIELD_OLLAMA_ARCHIVE" | cut -d' ' -f1)
    echo "ollama: stand-in release archive $SHIELD_OLLAMA_VERSION ($SHIELD_OLLAMA_SHA256)"
}
