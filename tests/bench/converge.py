"""Section 7: what running ``playbooks/site.yml`` costs, on a converged host and on a new one.

Measured, in one run, on the demo's systemd container (``shield-demo``) with the secrets, extra
vars and environment of ``tests/demo-stack.sh`` step 4:

(a) ``ansible-playbook -i inventories/local playbooks/site.yml`` re-converging the converged
    host over **SSH** with pipelining and ControlPersist (the connection the demo uses, as on a
    real server: the inventory source ``.cache/demo/<container>/connection-ssh.yml`` after
    ``inventories/local``), as an operator re-runs it: with its converge receipt
    (playbooks/converge_check.yml), which finds the host as its last full run left it (one
    untimed run over the same connection records it first: the connection's variables are
    among the receipt's inputs). Target: at most 45 s and at most 5x its floor;
(a') the same re-converge with ``shield_converge_receipts=false``: every role runs and
    checks the host task by task (what a run costs when an input changed). Target: 45 s;
(b) the same re-converge over the **podman connection** (``podman exec`` per module step, no
    pipelining: ``connection-podman.yml``). Target: at most 100 s;
(c) the first deploy of a **new host** with warm caches (tests/bench/newhost.py; base image,
    wheelhouse and stand-in archive built before): ``tests/demo-stack.sh deploy`` on a second
    container of its own, ``shield-bench-new`` (created, the stand-ins and site.yml over SSH,
    then removed with its state directory). Target: at most 4 minutes; no floor (nothing
    cheaper does that work);
(d) a playbook of the shape of (a') **doing nothing** (tests/bench/shape.py: the same plays
    and the same count of fact gatherings, module round trips, controller tasks and skipped
    tasks, read from one more run of (a') over SSH with the json callback), timed over SSH as
    often as the re-converge: the floor of what Ansible charges for that many tasks.
Each re-converge must report ``changed=0`` in its PLAY RECAP; a changed task means the host was
not converged, and the section fails naming it.

Floor of (a) and (b): ``tests/bench/noop.yml`` on the same inventory and host with the same
arguments and the same connection, one play with become and fact gathering as each of
site.yml's plays has them, and one ping. That is what any playbook run costs before a role does
anything (Ansible's start-up, the inventory, the connection, fact gathering), so the ratio is
what site.yml's own checks of every task on an unchanged host add to that; the notes give it
per task.

The container is reused when it runs, its stack services are active, tests/demo-stack.sh
recorded it as converged with the current wheelhouse and it has an SSH connection; otherwise
``tests/demo-stack.sh deploy`` deploys it first (timed, reported as a note, not a figure). The
runs alternate, starting and ending with the no-op plays, so all see the same machine:
``--quick`` and a full run do one round (one re-converge per connection, then the new host:
about 11 minutes on a busy 2-core machine), ``SHIELD_BENCH_CONVERGE_ROUNDS`` asks for more
re-converges. The demo container is left running.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from tests.bench import newhost, playlog, shape
from tests.bench.context import BenchContext
from tests.bench.demohost import CONNECTIONS, demo_env, not_converged
from tests.bench.newhost import NEW_HOST
from tests.bench.stats import Figure

SECTION = "7. site.yml re-converge"
# Each timeout is far above what a run takes on 2 cores: a fresh deploy a few minutes, a
# re-converge one to four, the no-op play seconds.
DEPLOY_TIMEOUT = 3600.0
CONVERGE_TIMEOUT = 1200.0
NOOP_TIMEOUT = 300.0
# The targets (issue 16): re-converge over SSH, its ratio to the no-op play over SSH, the
# re-converge over podman, the first deploy of a new host with warm caches (seconds).
SSH_TARGET = 45.0
SSH_TARGET_RATIO = 5.0
PODMAN_TARGET = 100.0
NEW_HOST_TARGET = 240.0
NO_RECEIPTS = ("-e", "shield_converge_receipts=false")  # every role runs
ROLE_RAN = "Validating arguments against arg spec"  # printed by every role that runs


def _spread(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.1f} s, min {min(samples):.1f} s, "
        f"max {max(samples):.1f} s over {len(samples)} runs"
    )


def _per_task(converge: list[float], noop: list[float], recap: dict[str, int]) -> str:
    tasks = recap["ok"] + recap["skipped"]
    per_task = (statistics.median(converge) - statistics.median(noop)) / max(tasks, 1)
    return f"{per_task:.2f} s per task of the {tasks} the re-converge ran"


def _controller_cpu(
    wall: list[float], cpu: list[float], noop_cpu: list[float], recap: dict[str, int]
) -> str:
    """Where the re-converge's time goes: the controller's own CPU (Ansible's work per task)."""
    tasks = recap["ok"] + recap["skipped"]
    site, floor = statistics.median(cpu), statistics.median(noop_cpu)
    share = site / statistics.median(wall)
    return (
        f"Controller CPU over SSH (ansible-playbook and its workers, user + system): "
        f"{site:.1f} s per re-converge ({share:.0%} of its wall time), {floor:.1f} s for the "
        f"no-op play; {(site - floor) / max(tasks, 1) * 1000:.0f} ms per task of the {tasks} it "
        "ran or skipped (each task, skipped or not, costs the controller a worker process, its "
        "templating and its callbacks)"
        + (
            ": the controller's own work, more than the host's round trips, sets the time."
            if share >= 0.5
            else "."
        )
    )


def _verdict(figure: Figure) -> str:
    return "met" if figure.meets_target("value") else "NOT met"


def run(ctx: BenchContext) -> list[Figure]:
    container = os.environ.get("SHIELD_DEMO_CONTAINER", "shield-demo")  # as tests/demo-stack.sh
    if container == NEW_HOST:
        raise RuntimeError(f"SHIELD_DEMO_CONTAINER={NEW_HOST}: that name is the new host's")
    state = ctx.repo / ".cache/demo" / container
    logs = ctx.root / "converge"
    n = int(os.environ.get("SHIELD_BENCH_CONVERGE_ROUNDS", "1"))
    if not 1 <= n <= 10:
        raise RuntimeError(f"SHIELD_BENCH_CONVERGE_ROUNDS={n}: give 1 to 10 rounds")

    ctx.progress(f"{SECTION}: the demo's artifacts (base image, wheelhouse, Qdrant stand-in)")
    env = demo_env(ctx, state / "artifacts", logs / "artifacts.log")
    env["SHIELD_DEMO_CONNECTION"] = "ssh"  # a deploy below goes over SSH, as the demo does
    notes: list[str] = []
    reason = not_converged(container, state, env)
    if reason is None:
        ctx.progress(f"{SECTION}: reusing the converged demo container {container}")
        notes.append(f"Reused the demo container {container}, converged before this run.")
    else:
        ctx.progress(f"{SECTION}: {reason}; deploying it (tests/demo-stack.sh deploy, ~4 min)")
        deploy_log = logs / "deploy.log"
        cmd = ["bash", "tests/demo-stack.sh", "deploy"]
        seconds = playlog.run(cmd, cwd=ctx.repo, env=env, log=deploy_log, timeout=DEPLOY_TIMEOUT)
        ctx.progress(f"{SECTION}: deployed in {seconds:.0f} s")
        notes.append(
            f"The demo container {container} was deployed first ({reason}): "
            f"tests/demo-stack.sh deploy took {seconds:.0f} s (artifacts, container, stand-ins, "
            "site.yml); not part of the figures."
        )
        # The deploy rebuilt the Qdrant stand-in's archive: its checksum is that build's now.
        env = demo_env(ctx, state / "artifacts", logs / "artifacts.log")
        env["SHIELD_DEMO_CONNECTION"] = "ssh"

    # tests/demo-stack.sh step 4's arguments, for site.yml and the no-op play alike; the
    # connection's inventory source (written by tests/demo-stack.sh) names the container.
    args = ["-i", "inventories/local", "-e", f"@{state / 'secrets.yml'}"]
    args += ["-e", f"qdrant_archive_local_path={env['SHIELD_QDRANT_ARCHIVE']}"]
    args += ["-e", f"qdrant_version={env['SHIELD_QDRANT_VERSION']}"]
    args += ["-e", f"qdrant_archive_sha256={env['SHIELD_QDRANT_SHA256']}"]
    args += ["-e", f"ollama_archive_local_path={env['SHIELD_OLLAMA_ARCHIVE']}"]
    args += ["-e", f"ollama_version={env['SHIELD_OLLAMA_VERSION']}"]
    args += ["-e", f"ollama_archive_sha256={env['SHIELD_OLLAMA_SHA256']}"]
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    env["ANSIBLE_NOCOLOR"] = "1"

    converge: dict[str, list[float]] = {c: [] for c in CONNECTIONS}
    full: list[float] = []  # (a'): over SSH, every role runs
    full_cpu: list[float] = []
    noop: dict[str, list[float]] = {c: [] for c in CONNECTIONS}
    # CPU seconds of ansible-playbook and its workers on the controller, per run.
    converge_cpu: dict[str, list[float]] = {c: [] for c in CONNECTIONS}
    noop_cpu: dict[str, list[float]] = {c: [] for c in CONNECTIONS}
    recaps: dict[str, dict[str, int]] = {}
    plays = 0

    def playbook(connection: str, path: str, *extra: str) -> list[str]:
        source = ["-i", str(state / f"connection-{connection}.yml")]
        return [ansible_playbook, *args, *source, *extra, path]

    def noop_play(connection: str, i: int) -> None:
        log = logs / f"noop-{connection}-{i}.log"
        cmd = playbook(connection, "tests/bench/noop.yml")
        seconds = playlog.run(
            cmd, cwd=ctx.repo, env=env, log=log, timeout=NOOP_TIMEOUT, cpu=noop_cpu[connection]
        )
        noop[connection].append(seconds)
        ctx.progress(f"{SECTION}: no-op play over {connection} {i}/{n + 1}: {seconds:.1f} s")

    def reconverge(connection: str, i: int, receipts: bool = True) -> None:
        nonlocal plays
        kind = "" if receipts else "-full"
        log = logs / f"site-{connection}{kind}-{i}.log"
        cmd = playbook(connection, "playbooks/site.yml", *([] if receipts else NO_RECEIPTS))
        seconds = playlog.run(
            cmd,
            cwd=ctx.repo,
            env=env,
            log=log,
            timeout=CONVERGE_TIMEOUT,
            cpu=converge_cpu[connection] if receipts else full_cpu,
        )
        recap = playlog.recap(log, "shield-demo")  # the inventory's host, whatever the container
        if recap["changed"] or recap["failed"] or recap["unreachable"]:
            tasks = "\n  ".join(playlog.changed_tasks(log)) or "(none listed)"
            raise RuntimeError(
                f"site.yml re-converge {i} over {connection} on {container} reported {recap}: "
                f"the host was not converged (log {log}). Changed tasks:\n  {tasks}"
            )
        if not receipts:
            full.append(seconds)
            recaps["full"] = recap
            plays = sum(line.startswith("PLAY [") for line in log.read_text().splitlines())
        elif ROLE_RAN in log.read_text():
            raise RuntimeError(
                f"site.yml re-converge {i} over {connection} on {container} ran the roles: its "
                f"converge receipt did not match (log {log}, the play prints why)"
            )
        else:
            converge[connection].append(seconds)
            recaps[connection] = recap
        what = "re-converge" if receipts else "re-converge, every role"
        ctx.progress(f"{SECTION}: {what} over {connection} {i}/{n}: {seconds:.1f} s, changed=0")

    def record(connection: str, i: int) -> None:
        """One untimed run that leaves the host's receipt for this connection's inputs (the
        connection's variables, ansible_host among them, are inputs: a run over the other
        connection recorded other ones, so this run is a full one), not a figure."""
        log = logs / f"site-{connection}-receipt-{i}.log"
        cmd = playbook(connection, "playbooks/site.yml")
        playlog.run(cmd, cwd=ctx.repo, env=env, log=log, timeout=CONVERGE_TIMEOUT)
        ctx.progress(f"{SECTION}: site.yml over {connection} recorded the host's receipt")

    for i in range(1, n + 1):
        for connection in CONNECTIONS:
            record(connection, i)
            noop_play(connection, i)
            reconverge(connection, i)
        reconverge("ssh", i, receipts=False)

    # The re-converge's shape (one more run over SSH, untimed, with the json callback) and a
    # playbook of that shape doing nothing (tests/bench/shape.py), timed over SSH n times.
    ctx.progress(f"{SECTION}: the re-converge's shape (one more run over SSH, json callback)")
    shape_log = logs / "site-ssh-shape.json"
    shape_env = {**env, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    cmd = playbook("ssh", "playbooks/site.yml", *NO_RECEIPTS)
    playlog.run(cmd, cwd=ctx.repo, env=shape_env, log=shape_log, timeout=CONVERGE_TIMEOUT)
    kinds = shape.read(shape_log, "shield-demo")
    shaped_playbook = logs / "shape.yml"
    shaped_playbook.write_text(shape.playbook(kinds, "shield-demo"), encoding="utf-8")
    shaped: list[float] = []
    for i in range(1, n + 1):
        log = logs / f"shape-ssh-{i}.log"
        cmd = playbook("ssh", str(shaped_playbook))
        shaped.append(playlog.run(cmd, cwd=ctx.repo, env=env, log=log, timeout=NOOP_TIMEOUT))
        ctx.progress(f"{SECTION}: its shape doing nothing over ssh {i}/{n}: {shaped[-1]:.1f} s")
    for connection in CONNECTIONS:
        noop_play(connection, n + 1)

    ctx.progress(f"{SECTION}: first deploy of a new host {NEW_HOST} (warm caches, over SSH)")
    new_seconds, new_notes = newhost.deploy(ctx, env, logs)
    ctx.progress(f"{SECTION}: new host deployed in {new_seconds:.0f} s, {NEW_HOST} removed")

    names = {
        "ssh": "SSH with pipelining and ControlPersist",
        "podman": "the podman connection (`podman exec`)",
    }
    figures = [
        Figure(
            section=SECTION,
            name=(
                f"site.yml re-converge on the converged demo host {container} (changed=0) "
                f"over {names[c]}"
            ),
            floor_name=f"a no-op play on the same host over the same connection ({c})",
            unit="s",
            measured={"value": statistics.median(converge[c])},
            floor={"value": statistics.median(noop[c])},
            samples=len(converge[c]),
            floor_samples=len(noop[c]),
            target={"value": SSH_TARGET if c == "ssh" else PODMAN_TARGET},
            target_ratio=SSH_TARGET_RATIO if c == "ssh" else None,
        )
        for c in CONNECTIONS
    ]
    full_figure = Figure(
        section=SECTION,
        name=(
            "the same re-converge over SSH with shield_converge_receipts=false (every role "
            "checks the host task by task, as when an input changed)"
        ),
        floor_name="a no-op play on the same host over the same connection (ssh)",
        unit="s",
        measured={"value": statistics.median(full)},
        floor={"value": statistics.median(noop["ssh"])},
        samples=len(full),
        floor_samples=len(noop["ssh"]),
        target={"value": SSH_TARGET},
    )
    kind_counts = shape.counts(kinds)
    shape_figure = Figure(
        section=SECTION,
        name="the same re-converge over SSH with shield_converge_receipts=false",
        floor_name=(
            f"a playbook of its shape doing nothing: the same {len(kinds)} plays on the same "
            f"host over SSH, setup for its {kind_counts[shape.FACTS]} fact gathering, ping for "
            f"its {kind_counts[shape.REMOTE]} module round trips, set_fact for its "
            f"{kind_counts[shape.LOCAL]} controller tasks, a skipped debug for its "
            f"{kind_counts[shape.SKIPPED]} skipped tasks"
        ),
        unit="s",
        measured={"value": statistics.median(full)},
        floor={"value": statistics.median(shaped)},
        samples=len(full),
        floor_samples=len(shaped),
    )
    new_figure = Figure(
        section=SECTION,
        name=(
            f"first deploy of a new host ({NEW_HOST}: container, stand-ins, site.yml over SSH) "
            "with warm caches"
        ),
        floor_name="",
        unit="s",
        measured={"value": new_seconds},
        floor={},
        samples=1,
        floor_samples=0,
        target={"value": NEW_HOST_TARGET},
    )
    ssh, podman = figures
    recap, recap_full = recaps["ssh"], recaps["full"]
    notes += [
        f"site.yml re-converge with its converge receipt over SSH: {_spread(converge['ssh'])}; "
        f"over podman: {_spread(converge['podman'])}; every run changed=0 and found the host "
        f"as its receipt recorded (ok={recap['ok']}, skipped={recap['skipped']} per run: facts, "
        "the comparison with the receipt, and every play ended at once).",
        f"With shield_converge_receipts=false over SSH: {_spread(full)}, changed=0 ({plays} "
        f"plays, ok={recap_full['ok']}, skipped={recap_full['skipped']} per run); over the "
        f"no-op play that is {_per_task(full, noop['ssh'], recap_full)}.",
        f"No-op play (facts + ping, tests/bench/noop.yml) over SSH: {_spread(noop['ssh'])}; "
        f"over podman: {_spread(noop['podman'])}.",
        _controller_cpu(full, full_cpu, noop_cpu["ssh"], recap_full),
        f"Its shape doing nothing (tests/bench/shape.py, from one more re-converge over SSH "
        f"read with the json callback): {_spread(shaped)}, "
        f"{statistics.median(shaped) / statistics.median(noop['ssh']):.1f}x the no-op play. "
        "That is what Ansible charges for that many plays, tasks and round trips; the "
        "re-converge's time over it is what the roles' own arguments, templates, conditions "
        "and modules cost.",
        f"Targets: over SSH at most {SSH_TARGET:.0f} s and {SSH_TARGET_RATIO:.0f}x the no-op "
        f"play ({_verdict(ssh)}: {ssh.measured['value']:.1f} s, {ssh.ratio('value'):.1f}x); "
        f"over podman at most {PODMAN_TARGET:.0f} s ({_verdict(podman)}: "
        f"{podman.measured['value']:.1f} s); a new host at most {NEW_HOST_TARGET:.0f} s "
        f"({_verdict(new_figure)}: {new_seconds:.0f} s).",
        *new_notes,
        f"The container {container} is left running; `make demo-stop` removes it.",
    ]
    new_figure.notes = notes
    return [*figures, full_figure, shape_figure, new_figure]
