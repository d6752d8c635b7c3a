"""Response statistics and the Prometheus text of ``GET /metrics``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    responses: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)

    def record(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        count_sum_min_max = self.responses.setdefault(
            (method, endpoint, status), [0, 0.0, seconds, seconds]
        )
        count_sum_min_max[0] += 1
        count_sum_min_max[1] += seconds
        count_sum_min_max[2] = min(count_sum_min_max[2], seconds)
        count_sum_min_max[3] = max(count_sum_min_max[3], seconds)


def prometheus_text(version: str, counts: dict[str, int], stats: Stats) -> str:
    lines = [
        "# HELP app_info information about qdrant server",
        "# TYPE app_info gauge",
        f'app_info{{name="qdrant",version="{version}",standin="true"}} 1',
        "# HELP app_status_recovery_mode features enabled in qdrant server",
        "# TYPE app_status_recovery_mode gauge",
        "app_status_recovery_mode 0",
        "# HELP collections_total number of collections",
        "# TYPE collections_total gauge",
        f"collections_total {len(counts)}",
        "# HELP collections_vector_total total number of vectors in all collections",
        "# TYPE collections_vector_total gauge",
        f"collections_vector_total {sum(counts.values())}",
        "# HELP collection_points approximate amount of points per collection",
        "# TYPE collection_points gauge",
        *(f'collection_points{{collection="{n}"}} {v}' for n, v in sorted(counts.items())),
        "# HELP cluster_enabled is cluster support enabled",
        "# TYPE cluster_enabled gauge",
        "cluster_enabled 0",
        "# HELP process_start_time_seconds start time of the process (unix seconds)",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {stats.started:.3f}",
        "# HELP rest_responses_total total number of responses",
        "# TYPE rest_responses_total counter",
    ]
    rows = sorted(stats.responses.items())
    label = 'method="{}",endpoint="{}",status="{}"'
    lines += [f"rest_responses_total{{{label.format(*k)}}} {v[0]}" for k, v in rows]
    lines += [
        "# HELP rest_responses_fail_total total number of failed responses",
        "# TYPE rest_responses_fail_total counter",
    ]
    lines += [
        f"rest_responses_fail_total{{{label.format(*k)}}} {v[0]}" for k, v in rows if k[2] >= 400
    ]
    for name, index in (("avg", None), ("min", 2), ("max", 3)):
        lines += [
            f"# HELP rest_responses_{name}_duration_seconds {name} response duration",
            f"# TYPE rest_responses_{name}_duration_seconds gauge",
        ]
        for k, v in rows:
            value = v[1] / v[0] if index is None else v[index]
            lines.append(
                f"rest_responses_{name}_duration_seconds{{{label.format(*k)}}} {value:.6f}"
            )
    return "\n".join(lines) + "\n"
