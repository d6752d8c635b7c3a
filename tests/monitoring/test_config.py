"""prometheus.yml, alertmanager.yml and blackbox.yml as the role renders them from an inventory.

Each file must pass the check the role runs before writing it (promtool check config, amtool
check-config, the blackbox exporter's --config.check), and the scrape targets must follow the
inventory: every Shield service's metrics port, one target per worker instance, Qdrant with its
API key from a file, the exporters, the readiness probes.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.monitoring.conftest import Render, run, tool
from tests.monitoring.rendering import SINGLE_HOST, Rendered

SECRET = "Zq8-not-a-real-key-7hPw2"


def _check_prometheus_config(rendered: Rendered) -> None:
    """promtool check config, with the rule and key files where the config expects them."""
    promtool = tool("promtool")
    (rendered.dir / "qdrant_api_key").write_text(SECRET, encoding="utf-8")
    result = run([promtool, "check", "config", str(rendered.path("prometheus.yml"))])
    assert result.returncode == 0, result.stdout + result.stderr


# Role variables pointing the rendered config at the render directory (as /etc/prometheus).
def _local_paths(rendered_dir_var: str = "{{ shield_render_dir }}") -> dict[str, Any]:
    return {
        "_monitoring_rules_dir": rendered_dir_var,
        "_monitoring_qdrant_key_file": rendered_dir_var + "/qdrant_api_key",
        "_monitoring_webhook_password_file": rendered_dir_var + "/webhook_password",
    }


def _jobs(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in rendered.yaml("prometheus.yml")["scrape_configs"]}


def _targets(job: dict[str, Any]) -> list[str]:
    return [t for group in job["static_configs"] for t in group["targets"]]


PRODUCTION: dict[str, Any] = {
    "all": {
        "hosts": {"mon-1": {"ansible_host": "10.20.1.60", "ansible_connection": "local"}},
        "vars": {"monitoring_exporters_host": "{{ ansible_host }}"},
        "children": {
            "redis": {"hosts": {"redis-1": {"ansible_host": "10.20.1.10"}}},
            "qdrant": {
                "hosts": {
                    "qdrant-1": {"ansible_host": "10.20.1.11"},
                    "qdrant-2": {"ansible_host": "10.20.1.12"},
                },
                "vars": {"qdrant_host": "{{ ansible_host }}"},
            },
            "lightrag": {
                "hosts": {"lightrag-1": {"ansible_host": "10.20.1.20"}},
                "vars": {
                    "lightrag_host": "{{ ansible_host }}",
                    "lightrag_metrics_host": "{{ ansible_host }}",
                },
            },
            "orchestrator": {
                "hosts": {
                    "orchestrator-1": {"ansible_host": "10.20.1.30"},
                    "orchestrator-2": {"ansible_host": "10.20.1.31"},
                },
                "vars": {
                    "orchestrator_fastapi_host": "{{ ansible_host }}",
                    "orchestrator_fastapi_metrics_host": "0.0.0.0",
                    "orchestrator_fastapi_metrics_port": 9712,
                },
            },
            "workers": {
                "hosts": {
                    "worker-1": {"ansible_host": "10.20.1.40", "orchestrator_workers_instances": 4},
                    "worker-2": {"ansible_host": "10.20.1.41"},
                },
                "vars": {"orchestrator_workers_metrics_host": "{{ ansible_host }}"},
            },
            "mcp": {
                "hosts": {"mcp-1": {"ansible_host": "10.20.1.50"}},
                "vars": {
                    "fastmcp_server_host": "{{ ansible_host }}",
                    "fastmcp_server_metrics_host": "{{ ansible_host }}",
                },
            },
            "monitoring": {"hosts": {"mon-1": {}}},
        },
    }
}


def test_single_host_config_passes_promtool(render: Render) -> None:
    rendered = render(SINGLE_HOST, _local_paths())
    _check_prometheus_config(rendered)
    jobs = _jobs(rendered)
    assert _targets(jobs["shield-mcp"]) == ["127.0.0.1:9611"]
    assert _targets(jobs["shield-orchestrator"]) == ["127.0.0.1:9612"]
    assert _targets(jobs["shield-lightrag"]) == ["127.0.0.1:9613"]
    assert _targets(jobs["shield-workers"]) == ["127.0.0.1:9630", "127.0.0.1:9631"]
    assert _targets(jobs["qdrant"]) == ["127.0.0.1:6333"]
    assert _targets(jobs["redis"]) == ["127.0.0.1:9121"]
    assert _targets(jobs["node"]) == ["127.0.0.1:9100"]
    assert not [t for t in rendered.targets if t["loopback_remote"]]


def test_production_targets_follow_the_inventory(render: Render) -> None:
    rendered = render(PRODUCTION, _local_paths(), host="mon-1")
    _check_prometheus_config(rendered)
    jobs = _jobs(rendered)
    assert _targets(jobs["shield-workers"]) == [
        "10.20.1.40:9630",
        "10.20.1.40:9631",
        "10.20.1.40:9632",
        "10.20.1.40:9633",
        "10.20.1.41:9630",
        "10.20.1.41:9631",
    ]
    workers = [g["labels"]["worker"] for g in jobs["shield-workers"]["static_configs"]]
    assert workers[:4] == [f"shield-worker@{n}" for n in range(1, 5)]
    # 0.0.0.0 on another host: reached at its ansible_host; its own metrics port.
    assert _targets(jobs["shield-orchestrator"]) == ["10.20.1.30:9712", "10.20.1.31:9712"]
    assert _targets(jobs["shield-mcp"]) == ["10.20.1.50:9611"]
    assert _targets(jobs["qdrant"]) == ["10.20.1.11:6333", "10.20.1.12:6333"]
    assert _targets(jobs["redis"]) == ["10.20.1.10:9121"]
    # Every host's node exporter, the monitoring host's own first.
    assert _targets(jobs["node"])[0] == "10.20.1.60:9100"
    assert len(_targets(jobs["node"])) == 10
    probes = _targets(jobs["shield-readiness"])
    assert "http://10.20.1.30:8600/readyz" in probes
    assert "http://10.20.1.11:6333/readyz" in probes
    assert "http://10.20.1.20:9621/health" in probes
    assert "http://10.20.1.50:8601/healthz" in probes
    assert not [t for t in rendered.targets if t["loopback_remote"]]


def test_qdrant_key_is_read_from_a_file_and_not_written_into_the_config(render: Render) -> None:
    rendered = render(SINGLE_HOST, {**_local_paths(), "monitoring_qdrant_api_key": SECRET})
    qdrant = _jobs(rendered)["qdrant"]
    assert qdrant["authorization"] == {
        "type": "Bearer",
        "credentials_file": str(rendered.dir / "qdrant_api_key"),
    }
    assert SECRET not in rendered.path("prometheus.yml").read_text(encoding="utf-8")


def test_loopback_listeners_of_other_hosts_are_flagged(render: Render) -> None:
    inventory = yaml.safe_load(yaml.safe_dump(PRODUCTION))
    del inventory["all"]["children"]["mcp"]["vars"]["fastmcp_server_metrics_host"]
    rendered = render(inventory, _local_paths(), host="mon-1")
    flagged = [t for t in rendered.targets if t["loopback_remote"]]
    assert [(t["job"], t["host"]) for t in flagged] == [("shield-mcp", "mcp-1")]


def test_tls_qdrant_is_scraped_over_https(render: Render) -> None:
    inventory = yaml.safe_load(yaml.safe_dump(PRODUCTION))
    inventory["all"]["children"]["qdrant"]["vars"]["qdrant_enable_tls"] = True
    rendered = render(inventory, _local_paths(), host="mon-1")
    _check_prometheus_config(rendered)
    groups = _jobs(rendered)["qdrant"]["static_configs"]
    assert {g["labels"]["__scheme__"] for g in groups} == {"https"}
    assert "https://10.20.1.11:6333/readyz" in _targets(_jobs(rendered)["shield-readiness"])


def test_alertmanager_config_passes_amtool(render: Render) -> None:
    amtool = tool("amtool")
    password = "hunter2-is-not-the-password"
    rendered = render(
        SINGLE_HOST,
        {
            **_local_paths(),
            "monitoring_alertmanager_webhook_url": "https://hooks.example.org/shield",
            "monitoring_alertmanager_webhook_username": "alerts",
            "monitoring_alertmanager_webhook_password": password,
        },
    )
    (rendered.dir / "webhook_password").write_text(password, encoding="utf-8")
    result = run([amtool, "check-config", str(rendered.path("alertmanager.yml"))])
    assert result.returncode == 0, result.stdout + result.stderr
    config = rendered.yaml("alertmanager.yml")
    (webhook,) = config["receivers"][0]["webhook_configs"]
    assert webhook["url"] == "https://hooks.example.org/shield"
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["basic_auth"]["password_file"].endswith("/webhook_password")
    assert password not in rendered.path("alertmanager.yml").read_text(encoding="utf-8")


def test_alertmanager_config_without_webhook_passes_amtool(rendered_defaults: Rendered) -> None:
    amtool = tool("amtool")
    result = run([amtool, "check-config", str(rendered_defaults.path("alertmanager.yml"))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "webhook_configs" not in rendered_defaults.yaml("alertmanager.yml")["receivers"][0]


def test_blackbox_config_passes_its_check(rendered_defaults: Rendered) -> None:
    blackbox = tool("prometheus-blackbox-exporter")
    config = rendered_defaults.path("blackbox.yml")
    result = run([blackbox, "--config.check", f"--config.file={config}"])
    assert result.returncode == 0, result.stdout + result.stderr


# --- The edge (HAProxy's own exporter, roles/edge) -------------------------------------------


def _with_edge(inventory: dict[str, Any], edge: dict[str, Any]) -> dict[str, Any]:
    """A copy of the inventory with an `edge` group."""
    inventory = yaml.safe_load(yaml.safe_dump(inventory))
    inventory["all"]["children"]["edge"] = edge
    return inventory


def _rule_files(rendered: Rendered) -> list[str]:
    return [p.rsplit("/", 1)[1] for p in rendered.yaml("prometheus.yml")["rule_files"]]


def test_no_edge_group_no_edge_job_and_no_edge_rules(render: Render) -> None:
    rendered = render(SINGLE_HOST, _local_paths())
    assert "shield-edge" not in _jobs(rendered)
    assert _rule_files(rendered) == ["shield-alerts.yml", "shield-slo.yml"]


def test_single_host_edge_is_scraped_on_loopback(render: Render) -> None:
    inventory = _with_edge(SINGLE_HOST, {"hosts": {"monitoring": {}}})
    rendered = render(inventory, _local_paths())
    _check_prometheus_config(rendered)
    edge = _jobs(rendered)["shield-edge"]
    assert _targets(edge) == ["127.0.0.1:9614"]
    assert edge["static_configs"][0]["labels"] == {"host": "monitoring", "service": "edge"}
    assert "metrics_path" not in edge  # /metrics, Prometheus's default
    assert _rule_files(rendered) == ["shield-alerts.yml", "shield-slo.yml", "shield-edge.yml"]


def test_production_edge_targets_follow_the_inventory(render: Render) -> None:
    inventory = _with_edge(
        PRODUCTION,
        {
            "hosts": {
                "edge-1": {"ansible_host": "10.20.1.70"},
                "edge-2": {"ansible_host": "10.20.1.71", "edge_metrics_port": 9714},
            },
            "vars": {"edge_metrics_host": "{{ ansible_host }}"},
        },
    )
    rendered = render(inventory, _local_paths(), host="mon-1")
    _check_prometheus_config(rendered)
    jobs = _jobs(rendered)
    assert _targets(jobs["shield-edge"]) == ["10.20.1.70:9614", "10.20.1.71:9714"]
    assert [g["labels"]["host"] for g in jobs["shield-edge"]["static_configs"]] == [
        "edge-1",
        "edge-2",
    ]
    # The exporters play deploys the node exporter on the edge hosts too: 10 + 2 node targets.
    node = _targets(jobs["node"])
    assert len(node) == 12
    assert {"10.20.1.70:9100", "10.20.1.71:9100"} <= set(node)
    assert "shield-edge.yml" in _rule_files(rendered)
    assert not [t for t in rendered.targets if t["loopback_remote"]]


def test_edge_metrics_on_loopback_of_another_host_are_flagged(render: Render) -> None:
    inventory = _with_edge(PRODUCTION, {"hosts": {"edge-1": {"ansible_host": "10.20.1.70"}}})
    rendered = render(inventory, _local_paths(), host="mon-1")
    flagged = [t for t in rendered.targets if t["loopback_remote"]]
    assert [(t["job"], t["host"]) for t in flagged] == [("shield-edge", "edge-1")]


def test_edge_alerts_inhibit_the_generic_ones_they_cover(rendered_defaults: Rendered) -> None:
    """One page for one fault: the edge down holds back ShieldTargetDown of its target, and a
    backend with no server up the ShieldEdgeServerDown of its servers on the same edge host."""
    inhibit = rendered_defaults.yaml("alertmanager.yml")["inhibit_rules"]
    pairs = {(r["source_matchers"][0], r["target_matchers"][0]): r["equal"] for r in inhibit}
    assert pairs[('alertname="ShieldEdgeDown"', 'alertname="ShieldTargetDown"')] == [
        "job",
        "instance",
    ]
    assert pairs[('alertname="ShieldEdgeBackendDown"', 'alertname="ShieldEdgeServerDown"')] == [
        "host",
        "proxy",
    ]
