"""The roles render the model settings of issue 19 as the services read them.

API clients (orchestrator_fastapi_clients), MCP tokens (fastmcp_server_tokens), feature
defaults, accounting, the router's tiers and the extraction model come from the inventory. Each
role's settings and environment are rendered here with Ansible's templar from the role's own
defaults, vars and tasks (the expressions shield.rag.common writes), then checked by
shield-check-config's own function, so the roles and the services cannot drift apart. Also:
keys and tokens reach the settings only as their SHA-256, and a deployment that sets none of the
new variables gets the settings it had (no new key, so no restart on upgrade).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shield_rag.check_config import check
from shield_rag.settings import Settings
from tests.support.templar import in_ansible

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
SERVICES = {
    "orchestrator_fastapi": "orchestrator",
    "orchestrator_workers": "worker",
    "fastmcp_server": "mcp",
    "lightrag": "lightrag",
}

# Secrets of a deployment (strong, as the preflight wants them).
BASE: dict[str, Any] = {
    "shield_redis_password": "Rr5redisQ8wm2Zx4Lp7Vb3Nc6Hk1Gf0D",
    "shield_qdrant_api_key": "Qq7qdrantL9p2Zr4Vt6Yw8Bn1Mc3Kd5H",
    "shield_lightrag_api_key": "Ll3lightJ8m2Wq9Zx4Lp7Vb3Nc6Hk1Gf",
    "shield_orchestrator_api_key": "Oo9orchK2d5Hf7Xq1Lp4Zr6Vt8Yw3Bn",
}
OPS_KEY = "Xq7opsKey9Lp2Zr4Vt6Yw8Bn1Mc3Kd5Hf"
BOT_KEY = "Bt4botKey8Jm2Wq9Zx4Lp7Vb3Nc6Hk1Gf0"
ALICE_TOKEN = "Al1ceTok3n9Lp2Zr4Vt6Yw8Bn1Mc3Kd5Q"
DASH_TOKEN = "Da5hTok3n8Jm2Wq9Zx4Lp7Vb3Nc6Hk1Gf"
SECRETS = (OPS_KEY, BOT_KEY, ALICE_TOKEN, DASH_TOKEN)
FULL: dict[str, Any] = {
    **BASE,
    "shield_clients": [
        {
            "name": "ops",
            "key": OPS_KEY,
            "scopes": ["read", "write", "admin"],
            "budget": {"period": "daily", "max_tokens": 200000, "max_cost": 12.5},
        },
        {"name": "reports-bot", "key": BOT_KEY},
    ],
    "shield_mcp_tokens": [
        {"name": "alice", "token": ALICE_TOKEN},
        {"name": "dashboards", "token": DASH_TOKEN, "scopes": ["read"], "client": "reports-bot"},
    ],
    "shield_features": {"router": True, "crawling": False, "refresh_seconds": 5},
    "shield_accounting": {
        "currency": "EUR",
        "prices": {"llama3.1:70b": {"input_per_million": 0.5, "output_per_million": 1.5}},
        "default_budget": {"period": "monthly", "max_tokens": 5000000},
    },
    "shield_llm_tiers": [
        {"name": "small", "model": "qwen2.5:0.5b", "max_prompt_tokens": 1500},
        {"name": "large", "model": "qwen2.5:7b", "max_prompt_tokens": None},
    ],
    "shield_llm_extract_model": "qwen2.5:1.5b",
}

# Run in a child process by tests/support/templar.py: for each case, the role's defaults, the
# inventory, the role's vars and the vars of its config task (and of any task given) are
# templated as Ansible would, and the asked expressions are rendered.
_RENDER = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template


def trust(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trust(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trust(v) for v in value]
    return value


def config_vars(tasks):
    for task in tasks:
        if "_common_config_settings" in (task.get("vars") or {}):
            return task["vars"]
        found = config_vars(task.get("block", []))
        if found:
            return found
    return None


loader = DataLoader()
out = []
for case in json.load(sys.stdin)["cases"]:
    role = case["role"]
    variables = dict(loader.load_from_file(role + "/defaults/main.yml"))
    variables.update(case["inventory"])
    variables.update(loader.load_from_file(role + "/vars/main.yml"))
    variables.update(config_vars(loader.load_from_file(role + "/tasks/main.yml")) or {})
    variables.update(case.get("task_vars", {}))
    variables.update(inventory_hostname="host-1", groups={}, hostvars={})
    templar = Templar(loader=loader, variables=trust(variables))
    out.append({name: templar.template(trust_as_template(expression))
                for name, expression in case["expressions"].items()})
json.dump(out, sys.stdout)
"""

CONFIG = {"settings": "{{ _common_config_settings }}", "env": "{{ _common_config_env }}"}


def render_many(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    job = {"cases": [{**case, "role": str(ROLES_DIR / case["role"])} for case in cases]}
    result: list[dict[str, Any]] = in_ansible(_RENDER, job)
    return result


@functools.cache
def _rendered() -> dict[tuple[str, str], dict[str, Any]]:
    """(role, "base" or "full") -> its settings and environment, rendered in one child."""
    keys = [(role, name) for role in SERVICES for name in ("base", "full")]
    inventories = {"base": BASE, "full": FULL}
    cases = [
        {"role": role, "inventory": inventories[name], "expressions": CONFIG} for role, name in keys
    ]
    return dict(zip(keys, render_many(cases), strict=True))


def rendered(role: str, inventory: str) -> dict[str, Any]:
    return _rendered()[(role, inventory)]


def service_settings(tmp_path: Path, role: str, inventory: str) -> Settings:
    """The rendered files, checked as the role checks them (shield-check-config)."""
    return checked(tmp_path, role, rendered(role, inventory))


def checked(tmp_path: Path, role: str, out: dict[str, Any]) -> Settings:
    """``out``'s settings and environment written as the role writes them, then checked."""
    config = tmp_path / f"{role}.yml"
    config.write_text(yaml.safe_dump(out["settings"]), encoding="utf-8")
    env = tmp_path / f"{role}.env"
    # As roles/common/templates/service.env.j2 writes it: empty values left out, quoted.
    lines = [
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in sorted(out["env"].items())
        if value
    ]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return check(str(config), SERVICES[role], str(env))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _task(role: str, file: str, name: str) -> dict[str, Any]:
    tasks = yaml.safe_load((ROLES_DIR / role / "tasks" / file).read_text(encoding="utf-8"))
    task: dict[str, Any] = next(t for t in tasks if t.get("name") == name)
    return task


NEW_KEYS: dict[str, list[tuple[str, ...]]] = {
    "orchestrator_fastapi": [("orchestrator", "clients"), ("features",), ("accounting",)],
    "orchestrator_workers": [("features",), ("accounting",)],
    "fastmcp_server": [("mcp", "tokens"), ("mcp", "auth_mode"), ("mcp", "oauth"), ("features",)],
    "lightrag": [("router",), ("ollama", "extract_model")],
}


def _lookup(settings: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = settings
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@pytest.mark.parametrize("role", sorted(SERVICES))
def test_empty_variables_add_nothing_to_the_settings(role: str) -> None:
    settings = rendered(role, "base")["settings"]
    present = [path for path in NEW_KEYS[role] if _lookup(settings, path) is not None]
    assert not present, f"{role} renders {present} though none of the variables is set"


@pytest.mark.parametrize("role", sorted(SERVICES))
@pytest.mark.parametrize("inventory", ["base", "full"])
def test_rendered_settings_are_valid_for_the_service(
    role: str, inventory: str, tmp_path: Path, clean_shield_env: None
) -> None:
    assert isinstance(service_settings(tmp_path, role, inventory), Settings)


@pytest.mark.parametrize("role", sorted(SERVICES))
def test_no_key_or_token_reaches_the_settings_file(role: str) -> None:
    text = json.dumps(rendered(role, "full"))
    assert not [secret for secret in SECRETS if secret in text]


def test_clients_are_rendered_by_the_sha256_of_their_key(
    tmp_path: Path, clean_shield_env: None
) -> None:
    clients = rendered("orchestrator_fastapi", "full")["settings"]["orchestrator"]["clients"]
    assert clients == {
        "ops": {
            "key_sha256": sha256(OPS_KEY),
            "scopes": ["read", "write", "admin"],
            "budget": {"period": "daily", "max_tokens": 200000, "max_cost": 12.5},
        },
        "reports-bot": {"key_sha256": sha256(BOT_KEY), "scopes": ["read"]},
    }
    loaded = service_settings(tmp_path, "orchestrator_fastapi", "full")
    ops = loaded.orchestrator.clients["ops"]
    assert ops.budget is not None and ops.budget.max_tokens == 200000
    assert loaded.orchestrator.api_key is not None  # the client "default" stays


def test_mcp_tokens_are_rendered_by_their_sha256(tmp_path: Path, clean_shield_env: None) -> None:
    tokens = rendered("fastmcp_server", "full")["settings"]["mcp"]["tokens"]
    assert tokens == {
        "alice": {"token_sha256": sha256(ALICE_TOKEN), "scopes": ["read", "write"]},
        "dashboards": {
            "token_sha256": sha256(DASH_TOKEN),
            "scopes": ["read"],
            "client": "reports-bot",
        },
    }
    loaded = service_settings(tmp_path, "fastmcp_server", "full")
    assert loaded.mcp.tokens["dashboards"].client == "reports-bot"
    assert loaded.features.crawling is False


@pytest.mark.parametrize("role", ["orchestrator_fastapi", "orchestrator_workers"])
def test_features_and_accounting_reach_orchestrator_and_workers(
    role: str, tmp_path: Path, clean_shield_env: None
) -> None:
    loaded = service_settings(tmp_path, role, "full")
    assert (loaded.features.router, loaded.features.crawling) == (True, False)
    assert loaded.features.refresh_seconds == 5
    assert loaded.accounting.currency == "EUR"
    assert loaded.accounting.default_budget is not None
    assert loaded.accounting.default_budget.max_tokens == 5000000
    assert str(loaded.accounting.prices["llama3.1:70b"].output_per_million) == "1.5"


def test_lightrag_gets_the_tiers_and_the_extraction_model(
    tmp_path: Path, clean_shield_env: None
) -> None:
    settings = rendered("lightrag", "full")["settings"]
    assert settings["router"] == {"tiers": FULL["shield_llm_tiers"], "cooldown_seconds": 60.0}
    assert settings["ollama"]["extract_model"] == "qwen2.5:1.5b"
    loaded = service_settings(tmp_path, "lightrag", "full")
    assert [tier.model for tier in loaded.router.tiers] == ["qwen2.5:0.5b", "qwen2.5:7b"]
    assert loaded.ollama.extract_model == "qwen2.5:1.5b"


# --- The preflight: keys and tokens checked by shield.rag.common, clashes refused by name ---

POLICY = yaml.safe_load(
    (ROOT / "src" / "shield_rag" / "settings" / "secret_policy.yml").read_text(encoding="utf-8")
)
WEAK = "Password123456!!"


def _weak_secrets_check(role: str) -> dict[str, Any]:
    """The vars of the role's call of common's secrets check plus common's weak-secret rule, so that
    `{{ __common_weak_secrets }}` renders the names the play would stop on."""
    common = yaml.safe_load((ROLES_DIR / "common" / "tasks" / "secrets.yml").read_text())
    rule = next(t for t in common if t["name"].startswith("Stop before any change"))
    call = _task(role, "validate.yml", "Check the secrets")
    return {
        **call["vars"],
        "__common_weak_secrets": rule["vars"]["__common_weak_secrets"],
        "__common_secret_policy": POLICY,
    }


def _assertion(role: str, name: str) -> str:
    that: list[str] = _task(role, "validate.yml", name)["ansible.builtin.assert"]["that"]
    return "{{ (" + ") and (".join(that) + ") }}"


@functools.cache
def _preflight() -> dict[str, dict[str, Any]]:
    clash = [
        {"name": "ops", "key": OPS_KEY},
        {"name": "ops", "key": BOT_KEY},
        {"name": "default", "key": ALICE_TOKEN},
        {"name": "bad name", "key": DASH_TOKEN},
        {"name": "copy", "key": OPS_KEY},
        {"name": "legacy", "key": BASE["shield_orchestrator_api_key"]},
    ]
    token_clash = [
        {"name": "alice", "token": ALICE_TOKEN},
        {"name": "alice", "token": DASH_TOKEN, "client": "not a name"},
        {"name": "bob", "token": ALICE_TOKEN},
    ]
    listener = _assertion(
        "fastmcp_server", "Check that a non-loopback listener has an auth token or named tokens"
    )
    weak = {"weak": "{{ __common_weak_secrets }}"}
    cases = {
        "weak_client_key": {
            "role": "orchestrator_fastapi",
            "inventory": {
                **FULL,
                "shield_clients": [
                    {"name": "ops", "key": WEAK},
                    {"name": "reports-bot", "key": BOT_KEY},
                ],
            },
            "task_vars": _weak_secrets_check("orchestrator_fastapi"),
            "expressions": {**weak, "problems": "{{ _orchestrator_fastapi_client_problems }}"},
        },
        "strong_clients": {
            "role": "orchestrator_fastapi",
            "inventory": FULL,
            "task_vars": _weak_secrets_check("orchestrator_fastapi"),
            "expressions": {**weak, "problems": "{{ _orchestrator_fastapi_client_problems }}"},
        },
        "client_clash": {
            "role": "orchestrator_fastapi",
            "inventory": {**BASE, "shield_clients": clash},
            "expressions": {"problems": "{{ _orchestrator_fastapi_client_problems }}"},
        },
        "mcp_remote_tokens_only": {
            "role": "fastmcp_server",
            "inventory": {**FULL, "fastmcp_server_host": "10.0.0.5"},
            "task_vars": _weak_secrets_check("fastmcp_server"),
            "expressions": {
                **weak,
                "listener": listener,
                "smoke": "{{ _fastmcp_server_smoke }}",
                "problems": "{{ _fastmcp_server_token_problems }}",
            },
        },
        "mcp_remote_nothing": {
            "role": "fastmcp_server",
            "inventory": {**BASE, "fastmcp_server_host": "10.0.0.5"},
            "task_vars": _weak_secrets_check("fastmcp_server"),
            "expressions": {**weak, "listener": listener},
        },
        "mcp_weak_token": {
            "role": "fastmcp_server",
            "inventory": {**BASE, "shield_mcp_tokens": [{"name": "alice", "token": WEAK}]},
            "task_vars": _weak_secrets_check("fastmcp_server"),
            "expressions": weak,
        },
        "mcp_token_clash": {
            "role": "fastmcp_server",
            "inventory": {**BASE, "shield_mcp_tokens": token_clash},
            "expressions": {"problems": "{{ _fastmcp_server_token_problems }}"},
        },
        "mcp_read_token_only": {
            "role": "fastmcp_server",
            "inventory": {**BASE, "shield_mcp_tokens": [FULL["shield_mcp_tokens"][1]]},
            "expressions": {"smoke": "{{ _fastmcp_server_smoke }}"},
        },
        "mcp_auth_token": {
            "role": "fastmcp_server",
            "inventory": {**FULL, "fastmcp_server_auth_token": OPS_KEY},
            "expressions": {"smoke": "{{ _fastmcp_server_smoke }}"},
        },
    }
    names = list(cases)
    return dict(zip(names, render_many([cases[n] for n in names]), strict=True))


def test_a_weak_client_key_is_named_and_strong_ones_pass() -> None:
    weak = _preflight()["weak_client_key"]
    assert weak["weak"] == ["orchestrator_fastapi_clients[ops].key (shield_clients)"]
    assert _preflight()["strong_clients"] == {"weak": [], "problems": []}


def test_clashing_clients_are_refused_by_name_never_by_key() -> None:
    problems = _preflight()["client_clash"]["problems"]
    assert problems == [
        "the client name ops is given twice",
        "the client name default is taken by orchestrator_fastapi_orchestrator_api_key "
        "(shield_orchestrator_api_key): rename that client",
        'the client name "bad name" must be 1 to 64 letters, digits or ._:@/- characters',
        "the clients ops and copy have the same key: give each client its own",
        "the client legacy has the key of orchestrator_fastapi_orchestrator_api_key "
        "(shield_orchestrator_api_key): give it its own",
    ]
    text = json.dumps(problems)
    assert not [s for s in (*SECRETS, BASE["shield_orchestrator_api_key"]) if s in text]


def test_named_tokens_let_a_non_loopback_mcp_server_run_without_the_auth_token() -> None:
    remote = _preflight()["mcp_remote_tokens_only"]
    assert (remote["listener"], remote["weak"], remote["problems"]) == (True, [], [])
    bare = _preflight()["mcp_remote_nothing"]
    assert (bare["listener"], bare["weak"]) == (False, ["fastmcp_server_auth_token"])


def test_a_weak_or_clashing_mcp_token_is_refused_by_name() -> None:
    assert _preflight()["mcp_weak_token"]["weak"] == [
        "fastmcp_server_tokens[alice].token (shield_mcp_tokens)"
    ]
    problems = _preflight()["mcp_token_clash"]["problems"]
    assert problems == [
        "the token name alice is given twice",
        'the client "not a name" of token alice must be 1 to 64 letters, digits or ._:@/- '
        "characters",
        "the tokens alice and bob are the same: give each its own",
    ]
    assert not [s for s in SECRETS if s in json.dumps(problems)]


def test_the_smoke_call_uses_a_token_that_sees_the_tools_it_expects() -> None:
    assert _preflight()["mcp_remote_tokens_only"]["smoke"] == {"token": ALICE_TOKEN, "writes": True}
    assert _preflight()["mcp_read_token_only"]["smoke"] == {"token": DASH_TOKEN, "writes": False}
    assert _preflight()["mcp_auth_token"]["smoke"] == {"token": OPS_KEY, "writes": True}


def test_the_ollama_role_provides_the_extraction_and_tier_models() -> None:
    """Each model the router's tiers and graph extraction name is provided once, after the
    declared ones, by the name Ollama resolves (``llama3.2`` is ``llama3.2:latest``)."""
    expressions = {"models": "{{ _ollama_all_models }}"}
    declared = {
        "ollama_models": [{"name": "all-minilm", "keep_loaded": True}, {"name": "llama3.2"}],
        "shield_llm_tiers": [{"name": "large", "model": "llama3.2:latest"}],
    }
    cases = [
        {"role": "ollama", "inventory": {}, "expressions": expressions},
        {"role": "ollama", "inventory": FULL, "expressions": expressions},
        {"role": "ollama", "inventory": {**FULL, **declared}, "expressions": expressions},
    ]
    plain, full, overlapping = (case["models"] for case in render_many(cases))
    defaults = [
        {"name": "all-minilm", "keep_loaded": False},
        {"name": "qwen2.5:0.5b", "keep_loaded": False},
    ]
    assert plain == defaults
    tier_models = [tier["model"] for tier in FULL["shield_llm_tiers"]]
    extra = list(dict.fromkeys([FULL["shield_llm_extract_model"], *tier_models]))
    wanted = defaults + [{"name": m, "keep_loaded": False} for m in extra if m != "qwen2.5:0.5b"]
    assert full == wanted
    assert [m["name"] for m in overlapping].count("llama3.2") == 1
    assert "llama3.2:latest" not in [m["name"] for m in overlapping]


# -- fastmcp_server_auth_mode: oauth ------------------------------------------------------------

IDP = {
    "resource_url": "https://mcp.example.com/mcp",
    "issuer": "https://sso.example.com/realms/shield",
    "jwks_url": "https://sso.example.com/realms/shield/protocol/openid-connect/certs",
    "scopes": {"read": "rag:read", "write": "rag:write"},
}
OAUTH_CHECK = "Check the identity provider of oauth mode"


@functools.cache
def _oauth() -> dict[str, dict[str, Any]]:
    listener = _assertion(
        "fastmcp_server", "Check that a non-loopback listener has an auth token or named tokens"
    )
    task_vars = {
        **_weak_secrets_check("fastmcp_server"),
        **_task("fastmcp_server", "validate.yml", OAUTH_CHECK)["vars"],
    }
    expressions = {
        **CONFIG,
        "listener": listener,
        "oauth": _assertion("fastmcp_server", OAUTH_CHECK),
        "weak": "{{ __common_weak_secrets }}",
    }
    remote = {**BASE, "fastmcp_server_host": "10.0.0.5", "fastmcp_server_auth_mode": "oauth"}
    cases = {
        "remote": {**remote, "fastmcp_server_oauth": IDP},
        "no_jwks": {**remote, "fastmcp_server_oauth": {**IDP, "jwks_url": ""}},
        "other_path": {
            **remote,
            "fastmcp_server_oauth": {**IDP, "resource_url": "https://mcp.example.com/rag"},
        },
        "with_tokens": {**FULL, **remote, "fastmcp_server_oauth": IDP},
    }
    names = list(cases)
    jobs = [
        {
            "role": "fastmcp_server",
            "inventory": cases[n],
            "task_vars": task_vars,
            "expressions": expressions,
        }
        for n in names
    ]
    return dict(zip(names, render_many(jobs), strict=True))


def test_oauth_mode_renders_the_identity_provider_and_needs_no_static_token(
    tmp_path: Path, clean_shield_env: None
) -> None:
    remote = _oauth()["remote"]
    assert (remote["listener"], remote["oauth"], remote["weak"]) == (True, True, [])
    assert remote["settings"]["mcp"]["auth_mode"] == "oauth"
    assert remote["settings"]["mcp"]["oauth"] == IDP
    loaded = checked(tmp_path, "fastmcp_server", remote)
    assert loaded.mcp.auth_mode == "oauth"
    assert loaded.mcp.oauth.scopes.write == "rag:write"
    assert loaded.mcp.host == "10.0.0.5" and loaded.mcp.auth_token is None


@pytest.mark.parametrize("case", ["no_jwks", "other_path", "with_tokens"])
def test_an_incomplete_oauth_setup_stops_the_preflight(case: str) -> None:
    assert _oauth()[case]["oauth"] is False
