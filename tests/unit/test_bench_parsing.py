"""What the benchmark reads from its tools, offline: Locust's result file (section 3) and
ansible-playbook's output (section 7). A misread here would put a wrong figure in the report
or hide a host that was not converged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.accept import BenchFailure, LocustResult, check_failures, figures, order
from tests.bench.newhost import NEW_HOST, new_host_env
from tests.bench.playlog import changed_tasks, deployed, recap
from tests.bench.stats import Figure


def locust(users: int = 10, ok: int = 200, failures: int = 0, window: float = 2.0) -> dict:
    return {
        "users": users,
        "window_s": window,
        "ok_ms": [1.0 + i % 7 for i in range(ok)],
        "window_failures": {"HTTP 500": failures} if failures else {},
        "requests": ok + failures + 5,
        "failures": {"HTTP 500": failures} if failures else {},
        "cpu_warning": False,
    }


def test_locust_result_rate_counts_successes_in_the_window() -> None:
    result = LocustResult.from_json(locust(ok=300, window=1.5), 10)
    assert result.rate == pytest.approx(200.0)
    assert result.failure_text() == "no failures in 305 requests"


def test_locust_result_without_a_window_is_refused() -> None:
    with pytest.raises(ValueError, match="never finished spawning"):
        LocustResult.from_json({**locust(), "window_s": None}, 10)


def test_locust_result_with_fewer_users_than_asked_is_refused() -> None:
    with pytest.raises(ValueError, match="spawned 7 users instead of 10"):
        LocustResult.from_json(locust(users=7), 10)


def test_more_than_one_percent_failed_requests_fail_the_section() -> None:
    ok = LocustResult.from_json(locust(ok=995, failures=3), 10)  # 3 of 1,003: 0.30 %
    check_failures(ok, "POST /ingest-async")
    bad = LocustResult.from_json(locust(ok=100, failures=5), 10)
    with pytest.raises(BenchFailure, match=r"5 of 110 requests failed \(4.55 %\): HTTP 500 x5"):
        check_failures(bad, "POST /ingest-async")


def test_accept_figures_compare_ingest_with_healthz_at_the_same_concurrency() -> None:
    ingest = LocustResult.from_json(locust(users=100, ok=100, window=2.0), 100)
    healthz = LocustResult.from_json(locust(users=100, ok=400, window=2.0), 100)
    latency, rate = figures(ingest, healthz)
    assert "100 concurrent clients" in latency.name
    assert latency.samples == 100 and latency.floor_samples == 400
    assert rate.measured["value"] == pytest.approx(50.0)
    assert rate.floor["value"] == pytest.approx(200.0)
    assert rate.higher_is_better


def test_pooled_runs_add_up_samples_windows_and_failures() -> None:
    runs = [
        LocustResult.from_json(locust(ok=200, failures=1, window=2.0), 10),
        LocustResult.from_json(locust(ok=100, window=1.0), 10),
    ]
    pooled = LocustResult.pooled(runs)
    assert len(pooled.ok_ms) == 300 and pooled.window_s == pytest.approx(3.0)
    assert pooled.rate == pytest.approx(100.0)
    assert pooled.requests == 311 and pooled.failures == {"HTTP 500": 1}


def test_runs_alternate_so_neither_endpoint_leads_more_often() -> None:
    assert order(1) == ["HealthzUser", "IngestUser"]
    runs = order(4)
    assert runs[:4] == ["HealthzUser", "IngestUser", "IngestUser", "HealthzUser"]
    assert runs.count("IngestUser") == runs.count("HealthzUser") == 4


def test_the_accept_p99_at_ten_clients_is_bounded_at_three_times_healthz() -> None:
    def at(users: int, ingest_ms: float) -> Figure:
        ingest = LocustResult.from_json({**locust(users=users), "ok_ms": [ingest_ms] * 50}, users)
        healthz = LocustResult.from_json({**locust(users=users), "ok_ms": [1.0] * 50}, users)
        return figures(ingest, healthz)[0]

    assert at(10, 2.9).meets_target("p99") and not at(10, 3.1).meets_target("p99")
    assert not at(10, 3.1).has_target("p50")
    assert not at(100, 9.0).has_target("p99")


PLAYBOOK_LOG = """\
PLAY [Redis] *******************************************************************

TASK [Gathering Facts] *********************************************************
ok: [shield-demo]

TASK [shield.rag.redis : Render redis.conf] ************************************
changed: [shield-demo]

RUNNING HANDLER [shield.rag.redis : Restart redis] *****************************
changed: [shield-demo]

TASK [shield.rag.qdrant : Install qdrant] **************************************
ok: [shield-demo]

PLAY RECAP *********************************************************************
other-host                 : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
shield-demo                : ok=40   changed=2    unreachable=0    failed=0    skipped=7    rescued=0    ignored=0
"""  # noqa: E501 - ansible-playbook's own line width


def test_recap_reads_the_hosts_counters(tmp_path: Path) -> None:
    log = tmp_path / "site.log"
    log.write_text(PLAYBOOK_LOG)
    assert recap(log, "shield-demo") == {
        "ok": 40,
        "changed": 2,
        "unreachable": 0,
        "failed": 0,
        "skipped": 7,
    }
    with pytest.raises(RuntimeError, match="no PLAY RECAP line for missing"):
        recap(log, "missing")


def test_changed_tasks_names_tasks_and_handlers(tmp_path: Path) -> None:
    log = tmp_path / "site.log"
    log.write_text(PLAYBOOK_LOG)
    assert changed_tasks(log) == [
        "TASK [shield.rag.redis : Render redis.conf]",
        "RUNNING HANDLER [shield.rag.redis : Restart redis]",
    ]


DEPLOY_LOG = """\
==> 4/5 converge: playbooks/site.yml with inventories/local over ssh (minutes the first time)
    play: Deploy Redis
    site.yml in 171 s: ok=301 changed=120 unreachable=0 failed=0 skipped=60 (log x/site.log)
demo: deployed in 214 s (artifacts and container 21 s, converge 171 s), no queries
"""


def test_deployed_reads_the_demo_scripts_times(tmp_path: Path) -> None:
    log = tmp_path / "deploy.log"
    log.write_text(DEPLOY_LOG)
    assert deployed(log) == {"total": 214, "container": 21, "converge": 171}
    log.write_text("demo: the demo queries failed\n")
    with pytest.raises(RuntimeError, match="no 'demo: deployed in' line"):
        deployed(log)


def test_the_new_host_gets_its_own_container_ssh_and_free_ports() -> None:
    env = {
        "SHIELD_DEMO_CONTAINER": "shield-demo",
        "SHIELD_DEMO_CONNECTION": "podman",
        "SHIELD_DEMO_SSH_PORT": "8622",
        "SHIELD_DEMO_MCP_PORT": "8601",
        "PATH": "/bin",
    }
    assert new_host_env(env) == {
        "SHIELD_DEMO_CONTAINER": NEW_HOST,
        "SHIELD_DEMO_CONNECTION": "ssh",
        "PATH": "/bin",
    }
