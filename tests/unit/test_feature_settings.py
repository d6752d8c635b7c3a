"""The ``features`` settings section, the feature API models, and the flags of a service
without Redis (the MCP server's case): no Redis server is needed here."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from shield_rag.api.features import FeatureChange, FeatureList, FeatureState
from shield_rag.features import FeatureDisabled, FeatureFlags
from shield_rag.settings.features import (
    FEATURE_DESCRIPTIONS,
    FEATURE_NAMES,
    FeatureSettings,
    check_feature_name,
)


def test_the_defaults_are_the_safe_ones() -> None:
    s = FeatureSettings()
    assert s.router is False
    assert (s.model_choice, s.graph_indexing, s.crawling, s.write_tools, s.streaming) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert s.refresh_seconds == 2.0


def test_feature_names_are_exactly_the_switches_of_the_section() -> None:
    switches = [
        n for n, f in FeatureSettings.model_fields.items() if f.annotation in (bool, "bool")
    ]
    assert list(FEATURE_NAMES) == switches
    assert set(FEATURE_DESCRIPTIONS) == set(FEATURE_NAMES)
    for name, field in FeatureSettings.model_fields.items():
        assert field.description and len(field.description) > 40, name
    for name in FEATURE_NAMES:
        assert f"/admin/features/{name}" in (FeatureSettings.model_fields[name].description or "")


@pytest.mark.parametrize("value", [0, -1, 60.5, 600])
def test_refresh_seconds_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ValidationError, match="refresh_seconds"):
        FeatureSettings(refresh_seconds=value)


def test_refresh_seconds_in_range_is_kept() -> None:
    assert FeatureSettings(refresh_seconds=60).refresh_seconds == 60
    assert FeatureSettings(refresh_seconds=0.1).refresh_seconds == 0.1


def test_an_unknown_key_is_refused_and_the_section_is_frozen() -> None:
    with pytest.raises(ValidationError, match="crawl\n"):
        FeatureSettings.model_validate({"crawl": False})
    s = FeatureSettings()
    with pytest.raises(ValidationError):
        s.crawling = False  # type: ignore[misc]


def test_a_feature_setting_must_be_a_boolean() -> None:
    with pytest.raises(ValidationError, match="streaming"):
        FeatureSettings.model_validate({"streaming": "sometimes"})


def test_an_unknown_feature_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown feature") as refused:
        check_feature_name("teleport")
    message = str(refused.value)
    assert "'teleport'" in message
    assert all(name in message for name in FEATURE_NAMES)
    with pytest.raises(ValueError, match="teleport"):
        FeatureSettings().default("teleport")
    assert FeatureSettings(crawling=False).default("crawling") is False


def test_a_change_body_is_read_strictly() -> None:
    assert FeatureChange.model_validate_json('{"enabled": false}').enabled is False
    for body in ('{"enabled": "false"}', '{"enabled": 0}', "{}", '{"enabled": true, "by": "x"}'):
        with pytest.raises(ValidationError):
            FeatureChange.model_validate_json(body)


def test_feature_disabled_says_what_to_do() -> None:
    err = FeatureDisabled("crawling")
    assert str(err) == (
        "feature 'crawling' is turned off (features.crawling); an admin can turn it back on "
        "with PUT /admin/features/crawling"
    )
    assert (err.name, err.setting) == ("crawling", "features.crawling")


def test_flags_start_from_the_inventory() -> None:
    flags = FeatureFlags(FeatureSettings(crawling=False), None)
    assert flags.enabled("crawling") is False and flags.enabled("streaming") is True
    with pytest.raises(FeatureDisabled, match=r"features\.crawling"):
        flags.require("crawling")
    flags.require("streaming")
    snap = flags.snapshot()
    assert list(snap) == list(FEATURE_NAMES)
    assert snap["crawling"] == FeatureState(
        name="crawling", enabled=False, default=False, source="inventory"
    )
    assert REGISTRY.get_sample_value("shield_feature_enabled", {"feature": "crawling"}) == 0.0
    with pytest.raises(ValueError, match="unknown feature 'teleport'"):
        flags.enabled("teleport")


def _runtime(name: str, enabled: bool, default: bool = True) -> FeatureState:
    at = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    return FeatureState(
        name=name,
        enabled=enabled,
        default=default,
        source="runtime",
        changed_by="admin",
        changed_at=at,
    )


def test_apply_takes_the_runtime_changes_and_keeps_its_own_inventory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flags = FeatureFlags(FeatureSettings(), None)
    reported = [
        _runtime("write_tools", False),
        # The orchestrator's inventory says router is on; this service's says off.
        FeatureState(name="router", enabled=True, default=True, source="inventory"),
        _runtime("hyperdrive", True),  # a feature of another release
    ]
    caplog.set_level(logging.WARNING, "shield_rag.features")
    assert flags.apply(reported) is True
    assert flags.enabled("write_tools") is False
    assert flags.enabled("router") is False
    state = flags.state("write_tools")
    assert (state.source, state.changed_by) == ("runtime", "admin")
    assert state.changed_at == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert REGISTRY.get_sample_value("shield_feature_enabled", {"feature": "write_tools"}) == 0.0
    assert caplog.text.count("feature hyperdrive is not known to this release") == 1

    assert flags.apply(reported) is False  # the same again: nothing changed, warned once
    assert caplog.text.count("hyperdrive") == 1
    assert flags.apply([]) is True  # the change was reset elsewhere
    assert flags.enabled("write_tools") is True
    assert REGISTRY.get_sample_value("shield_feature_enabled", {"feature": "write_tools"}) == 1.0


def test_apply_reads_what_get_features_sends() -> None:
    body = json.dumps(
        {
            "features": [
                {
                    "name": "streaming",
                    "enabled": False,
                    "default": True,
                    "source": "runtime",
                    "changed_by": "ops",
                    "changed_at": "2026-12-06T08:00:00Z",
                }
            ]
        }
    )
    flags = FeatureFlags(FeatureSettings(), None)
    flags.apply(FeatureList.model_validate_json(body).features)
    assert flags.enabled("streaming") is False


async def test_flags_without_redis_say_where_changes_come_from() -> None:
    flags = FeatureFlags(FeatureSettings(), None)
    for call in (flags.refresh(), flags.set("crawling", False, by="x"), flags.history()):
        with pytest.raises(RuntimeError, match=r"apply\(\)"):
            await call


def test_the_flags_do_not_load_redis() -> None:
    """The MCP server has no Redis: importing the flags must not import the redis package."""
    code = "import sys, shield_rag.features; print('redis' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
