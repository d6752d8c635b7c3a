"""Each role's interface agrees with itself: argument specs, defaults, README, templates, meta.

Fast and offline: the files are read with PyYAML and nothing is run; only the preflight rule for
secrets is rendered, with Ansible's own templar.
"""

from __future__ import annotations

import functools
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.templar import in_ansible

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir())

# The no_log rule: an option (or a suboption of a list or dict option, such as the key of
# each of orchestrator_fastapi_clients) is no_log exactly when its name says it holds a secret ...
SECRET_NAME = re.compile(r"(password|api_key|access_key|secret_key|token|secrets?|^key)$")
# ... or when it carries secrets under another name. _common_config_env is the SHIELD_*
# environment of a service, which holds its Redis password and API keys.
SECRET_CARRIERS: dict[str, set[str]] = {"common": {"_common_config_env"}}

README_SECTIONS = ("## Requirements", "## Role Variables", "## Dependencies", "## Example Playbook")
GALAXY_KEYS = ("author", "description", "license", "min_ansible_version", "platforms")


class _ReadmeLoader(yaml.SafeLoader):
    """SafeLoader that reads `!vault |` placeholders in README examples as plain strings."""


def _vault_placeholder(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_ReadmeLoader.add_constructor("!vault", _vault_placeholder)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _specs(role: str) -> dict[str, dict[str, Any]]:
    return _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]


def _main_options(role: str) -> dict[str, dict[str, Any]]:
    return _specs(role)["main"].get("options") or {}


def _all_options(role: str) -> dict[str, dict[str, Any]]:
    """Options of every entry point; an option shared by entry points must agree across them."""
    options: dict[str, dict[str, Any]] = {}
    for entry_point, spec in _specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            if name in options:
                assert options[name].get("default") == option.get("default"), (
                    f"{role}: {name} has another default in entry point {entry_point}"
                )
            options[name] = option
    return options


def _defaults(role: str) -> dict[str, Any]:
    path = ROLES_DIR / role / "defaults" / "main.yml"
    return (_load(path) or {}) if path.is_file() else {}


def _readme(role: str) -> str:
    path = ROLES_DIR / role / "README.md"
    assert path.is_file(), f"{role}: no README.md"
    return path.read_text(encoding="utf-8")


def _role_variables_yaml(readme: str) -> dict[str, Any]:
    """The mappings of the ```yaml blocks of the README's "Role Variables" section, merged."""
    match = re.search(r"^## Role Variables$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "no '## Role Variables' section"
    merged: dict[str, Any] = {}
    for block in re.findall(r"^```yaml\n(.*?)^```", match.group(1), re.M | re.S):
        data = yaml.load(block, Loader=_ReadmeLoader)  # a SafeLoader subclass
        if isinstance(data, dict):
            merged.update(data)
    return merged


def _diff(label_a: str, a: set[str], label_b: str, b: set[str]) -> str:
    return f"only in {label_a}: {sorted(a - b)}; only in {label_b}: {sorted(b - a)}"


def test_every_directory_under_roles_is_a_role() -> None:
    assert ROLES, "no roles found"
    missing = [role for role in ROLES if not (ROLES_DIR / role / "tasks" / "main.yml").is_file()]
    assert not missing, f"directories under roles/ without tasks/main.yml: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_options_are_the_defaults_keys(role: str) -> None:
    defaults = set(_defaults(role))
    main = set(_main_options(role))
    if main or len(_specs(role)) == 1:
        assert main == defaults, _diff("argument_specs main", main, "defaults", defaults)
        return
    # An internal role whose main entry point only refuses direct use (common): its defaults
    # are the options the other entry points give a default. A required option has none, so
    # a play that calls an entry point directly without it fails argument validation.
    expected = {name for name, opt in _all_options(role).items() if "default" in opt}
    assert expected == defaults, _diff("argument_specs", expected, "defaults", defaults)


def _computed(value: Any) -> bool:
    """A default that Jinja works out when the role runs, such as `{{ shield_redis_port | ...}}`."""
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_are_the_defaults_values(role: str) -> None:
    defaults = _defaults(role)
    options = _all_options(role)
    wrong = {
        name: {"argument_specs": options.get(name, {}).get("default", "(none)"), "defaults": value}
        for name, value in defaults.items()
        if options.get(name, {}).get("default", object()) != value
        # A computed default of an int, bool, dict or list of dicts is no value of that type
        # (antsibull-docs, make docs-lint, refuses it): such an option has no spec default; its
        # description tells where the value comes from (test below).
        and not (_computed(value) and "default" not in options.get(name, {}))
    }
    assert not wrong, f"{role}: spec default differs from defaults/main.yml: {wrong}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_describes_a_computed_default_it_leaves_out(role: str) -> None:
    defaults = _defaults(role)
    problems = {}
    for name, option in _all_options(role).items():
        value = defaults.get(name)
        if "default" in option or not _computed(value):
            continue
        description = option.get("description") or []
        text = " ".join([description] if isinstance(description, str) else description)
        unnamed = [v for v in re.findall(r"\bshield_\w+", value) if f"C({v})" not in text]
        if "default" not in text.lower() or unnamed:
            problems[name] = f"{value!r}: the description must say it defaults to C(...) {unnamed}"
    assert not problems, f"{role}: {problems}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_every_option(role: str) -> None:
    readme = _readme(role)
    missing = [
        name for name in _all_options(role) if not re.search(rf"(?<!\w){name}(?!\w)", readme)
    ]
    assert not missing, f"{role}/README.md does not mention {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_role_variables_show_the_real_defaults(role: str) -> None:
    shown = _role_variables_yaml(_readme(role))
    problems = {}
    for name, default in _defaults(role).items():
        if name not in shown:
            problems[name] = "not in a yaml block of '## Role Variables'"
        elif shown[name] != default:
            problems[name] = f"README shows {shown[name]!r}, the default is {default!r}"
    assert not problems, f"{role}/README.md: {problems}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_has_the_house_sections_and_the_fqcn(role: str) -> None:
    readme = _readme(role)
    lines = readme.splitlines()
    missing = [section for section in README_SECTIONS if section not in lines]
    assert not missing, f"{role}/README.md lacks the sections {missing}"
    assert lines[0] == f"# shield.rag.{role}", f"{role}/README.md title: {lines[0]!r}"
    example = readme.split("## Example Playbook", 1)[1]
    assert f"shield.rag.{role}" in example, f"{role}: the example does not use shield.rag.{role}"


@pytest.mark.parametrize("role", ROLES)
def test_templates_start_with_ansible_managed(role: str) -> None:
    templates = ROLES_DIR / role / "templates"
    files = sorted(p for p in templates.rglob("*") if p.is_file()) if templates.is_dir() else []
    wrong = []
    for path in files:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        if not re.search(r"\{\{\s*ansible_managed\b.*\}\}", first):
            wrong.append(f"{path.relative_to(ROLES_DIR)}: {first!r}")
    assert not wrong, f"templates whose first line is not the ansible_managed header: {wrong}"


@pytest.mark.parametrize("role", ROLES)
def test_meta_main_has_galaxy_info(role: str) -> None:
    path = ROLES_DIR / role / "meta" / "main.yml"
    assert path.is_file(), f"{role}: no meta/main.yml"
    galaxy_info = (_load(path) or {}).get("galaxy_info")
    assert isinstance(galaxy_info, dict), f"{role}: meta/main.yml has no galaxy_info"
    missing = [key for key in GALAXY_KEYS if not galaxy_info.get(key)]
    assert not missing, f"{role}: galaxy_info lacks {missing}"


def _option_tree(options: dict[str, dict[str, Any]], prefix: str = "") -> dict[str, str]:
    """Every option and suboption by its dotted path (clients.key), with its own name."""
    found: dict[str, str] = {}
    for name, option in options.items():
        found[prefix + name] = name
        found.update(_option_tree(option.get("options") or {}, f"{prefix}{name}."))
    return found


@pytest.mark.parametrize("role", ROLES)
def test_no_log_options_are_exactly_the_secrets(role: str) -> None:
    options = _all_options(role)
    tree = _option_tree(options)

    def option_at(path: str) -> dict[str, Any]:
        head, *rest = path.split(".")
        option = options[head]
        for part in rest:
            option = option["options"][part]
        return option

    no_log = {path for path in tree if option_at(path).get("no_log") is True}
    secret = {path for path, name in tree.items() if SECRET_NAME.search(name)}
    secret |= SECRET_CARRIERS.get(role, set())
    assert no_log == secret, _diff("no_log", no_log, "secret by name", secret)


def _stack_wide_fallbacks() -> dict[str, dict[str, Any]]:
    """shield_* variable -> {role variable: fallback}, from `{{ shield_x | default(...) }}`."""
    found: dict[str, dict[str, Any]] = {}
    pattern = re.compile(r"\{\{\s*(shield_\w+)\s*\|\s*default\(([^)]*)\)\s*\}\}")
    for role in ROLES:
        for name, value in _defaults(role).items():
            for variable, fallback in pattern.findall(value if isinstance(value, str) else ""):
                found.setdefault(variable, {})[name] = yaml.safe_load(fallback)
    return found


STACK_WIDE = _stack_wide_fallbacks()


def test_roles_read_stack_wide_variables() -> None:
    assert STACK_WIDE, "no role default refers to a shield_* variable"


@pytest.mark.parametrize("variable", sorted(STACK_WIDE))
def test_stack_wide_variable_has_one_fallback_and_is_documented(variable: str) -> None:
    fallbacks = STACK_WIDE[variable]
    assert len(set(map(repr, fallbacks.values()))) == 1, f"{variable}: fallbacks {fallbacks}"
    text = (ROOT / "docs" / "variables.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{variable}` \| `([^`]*)`(.*)$", text, re.M)
    assert row, f"docs/variables.md has no table row for {variable}"
    assert yaml.safe_load(row.group(1)) == next(iter(fallbacks.values())), (
        f"docs/variables.md gives {variable} the default {row.group(1)!r}, the roles {fallbacks}"
    )
    undocumented = [name for name in fallbacks if f"`{name}`" not in row.group(2)]
    assert not undocumented, f"docs/variables.md row of {variable} does not name {undocumented}"


# The one weak-secret policy, read by the services and (on the controller) by the roles.
SECRET_POLICY = ROOT / "src" / "shield_rag" / "settings" / "secret_policy.yml"


def test_the_roles_read_the_one_secret_policy_file() -> None:
    """common's secrets check loads the policy file the services read, by a path that holds in
    the repository and in an installed collection (roles/common/../../src/...)."""
    common_vars = _load(ROLES_DIR / "common" / "vars" / "main.yml")
    path = common_vars["_common_secret_policy_file"]
    assert path.startswith("{{ role_path }}/"), path
    resolved = (ROLES_DIR / "common" / path.removeprefix("{{ role_path }}/")).resolve()
    assert resolved == SECRET_POLICY.resolve()
    policy = _load(SECRET_POLICY)
    keys = {"min_length", "min_distinct", "min_left", "weak_words", "placeholder_marks"}
    assert set(policy) >= keys
    tasks = (ROLES_DIR / "common" / "tasks" / "secrets.yml").read_text(encoding="utf-8")
    assert "lookup('ansible.builtin.file', _common_secret_policy_file)" in tasks


WORD_LIST = re.compile(r"^(\w*(?:weak_words|placeholder_marks))\s*:", re.M)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_keeps_a_word_list_of_its_own(role: str) -> None:
    """The weak words and placeholder marks live in the policy file only."""
    found = [
        f"{path.relative_to(ROLES_DIR)}: {name}"
        for path in sorted((ROLES_DIR / role).rglob("*.yml"))
        for name in WORD_LIST.findall(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


# Every role checks the platform through shield.rag.common (entry point preflight) and its
# secrets through it too (entry point secrets, from its validate entry point when it has one):
# no platform or strength rule is written anywhere else.
@pytest.mark.parametrize("role", [r for r in ROLES if r not in ("common", "shield_runtime")])
def test_role_checks_platform_and_secrets_through_common(role: str) -> None:
    tasks = ROLES_DIR / role / "tasks"
    text = (tasks / "preflight.yml").read_text(encoding="utf-8")
    assert re.search(r"name: shield\.rag\.common\n\s+tasks_from: preflight\n", text), role
    if (tasks / "validate.yml").is_file():
        assert "file: validate.yml" in text, f"{role}: the preflight does not run validate.yml"
        text += (tasks / "validate.yml").read_text(encoding="utf-8")
    if any(o.get("no_log") for o in _main_options(role).values()):
        assert re.search(r"name: shield\.rag\.common\n\s+tasks_from: secrets\n", text), role
    for pattern in ("service_mgr", "os_family", "weak_words", "placeholder_marks"):
        assert pattern not in text, f"{role}/tasks checks {pattern!r} itself"


# The secrets check: the task and the variable holding the names of the weak secrets.
STRENGTH_CHECKS = [
    ("common", "Stop before any change when a secret is missing or weak", "__common_weak_secrets")
]
STRONG_SECRETS = ["Xq7admin9Lp2Zr4Vt6Yw8Bn1Mc3Kd5Hf", "Rt5test8Jm2Wq9Zx4Lp7Vb3Nc6Hk1Gf0D"]
WEAK_SECRETS = [
    "Password123456!!",  # 4 characters left without "password" and "123456"
    "changemechangeme",  # nothing left
    "myadminkey2024!!",  # 11 left
    "short-Key-1",  # under 16 characters
    "aaaaaaaaaaaaaaaaaaaa",  # 1 distinct character
    "AaBbCcDdAaBbCcDdAaBb",  # 4 distinct characters once case is ignored
]


RANDOM_SECRETS = [secrets.token_urlsafe(24) for _unused in range(200)]

# Run in a child process by tests/support/templar.py: the task's variable rendered for each
# candidate as the only secret, with the policy file loaded.
_EVALUATE = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
job = json.load(sys.stdin)
out = []
for value in job["values"]:
    variables = {**job["role_vars"], "_common_secrets": [value]}
    templar = Templar(loader=DataLoader(), variables=variables)
    out.append(templar.template(trust_as_template(job["expression"])))
json.dump(out, sys.stdout)
"""


def _vault_example_values() -> list[str]:
    """Every placeholder of the production vault example, the commented-out ones included."""
    text = (ROOT / "inventories/production/group_vars/all/vault.yml.example").read_text()
    values = re.findall(r"^#? ?\w+: (CHANGEME\S*)$", text, re.M)
    assert len(values) >= 5, values
    return values


@functools.cache
def _accepted(role: str, task_name: str, variable: str) -> dict[str, bool]:
    """Whether common's secrets check accepts each candidate secret under the policy file,
    rendered by Ansible's templar as the task renders it: the list of weak ones is empty."""
    tasks = _load(ROLES_DIR / role / "tasks" / "secrets.yml")
    task = next(task for task in tasks if task.get("name") == task_name)
    candidates = STRONG_SECRETS + RANDOM_SECRETS + WEAK_SECRETS + _vault_example_values()
    values = [{"name": "a_secret", "value": c} for c in candidates]
    job = {
        "role_vars": {"__common_secret_policy": _load(SECRET_POLICY)},
        "expression": task["vars"][variable],
        "values": values,
    }
    weak = in_ansible(_EVALUATE, job)
    return {c: w == [] for c, w in zip(candidates, weak, strict=True)}


@pytest.mark.parametrize(("role", "task_name", "variable"), STRENGTH_CHECKS)
def test_preflight_accepts_random_secrets_even_with_a_weak_word_inside(
    role: str, task_name: str, variable: str
) -> None:
    verdicts = _accepted(role, task_name, variable)
    refused = [s for s in STRONG_SECRETS + RANDOM_SECRETS if not verdicts[s]]
    assert not refused, f"{role}: {task_name!r} refuses {refused}"


@pytest.mark.parametrize(("role", "task_name", "variable"), STRENGTH_CHECKS)
def test_preflight_refuses_short_repetitive_or_mostly_weak_word_secrets(
    role: str, task_name: str, variable: str
) -> None:
    verdicts = _accepted(role, task_name, variable)
    accepted = [s for s in WEAK_SECRETS if verdicts[s]]
    assert not accepted, f"{role}: {task_name!r} accepts {accepted}"


@pytest.mark.parametrize(("role", "task_name", "variable"), STRENGTH_CHECKS)
def test_preflight_refuses_every_placeholder_of_the_vault_example(
    role: str, task_name: str, variable: str
) -> None:
    verdicts = _accepted(role, task_name, variable)
    accepted = [v for v in _vault_example_values() if verdicts[v]]
    assert not accepted, f"{role}: a copy of vault.yml.example never filled in deploys {accepted}"


@pytest.mark.parametrize(("role", "task_name", "variable"), STRENGTH_CHECKS)
def test_services_and_roles_judge_every_secret_alike(
    role: str, task_name: str, variable: str
) -> None:
    """One policy: the services' check (shield_rag.settings) refuses exactly what the roles'
    preflight refuses, on strong, random, weak and placeholder values and on mixed-case ones
    whose distinct characters differ only by case."""
    from shield_rag.settings.base import secret_problem

    verdicts = _accepted(role, task_name, variable)
    disagree = [s for s, ok in verdicts.items() if ok != (secret_problem(s) is None)]
    assert not disagree, f"{role}: services and roles disagree on {disagree}"
