"""Static checks of the container build and Compose deployment files.

No container engine is available where the tests run, so these tests parse
``Dockerfile``, ``compose.yaml``, ``.env.example`` and ``.dockerignore`` and
check the properties the deployment relies on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from energy_api.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

# Every environment variable the application (and its CLI) reads.
# Every setting the service reads, plus the image's worker count.
APP_SETTINGS = (*(name.upper() for name in Settings.model_fields), "WEB_CONCURRENCY")

SLIM_PYTHON_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?python:\d+(?:\.\d+)*-slim$")
ROOT_USERS = frozenset({"root", "0"})


# --------------------------------------------------------------------------
# Dockerfile parsing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining ``\\`` continuations.

    Comment lines (including those inside a continued instruction) and blank
    lines are dropped, as Docker's own parser does.
    """
    instructions: list[Instruction] = []
    pending: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    if pending:
        logical = " ".join(part for part in pending if part)
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def dockerfile_instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Group instructions by build stage; each group starts with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([instruction])
        elif result:
            result[-1].append(instruction)
    return result


def from_image_and_alias(args: str) -> tuple[str, str | None]:
    tokens = [token for token in args.split() if not token.startswith("--")]
    image = tokens[0]
    alias = tokens[2] if len(tokens) >= 3 and tokens[1].lower() == "as" else None
    return image, alias


def exec_form(args: str) -> list[str]:
    """Parse a JSON (exec form) argument list; fail on shell form."""
    value = json.loads(args)
    assert isinstance(value, list), f"expected exec form, got {args!r}"
    assert all(isinstance(item, str) for item in value)
    return [str(item) for item in value]


def final_stage() -> list[Instruction]:
    all_stages = stages(dockerfile_instructions())
    assert all_stages, "Dockerfile has no FROM"
    return all_stages[-1]


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    matches = [i for i in instructions if i.keyword == keyword]
    assert matches, f"no {keyword} instruction"
    # Docker honours only the last CMD / HEALTHCHECK / USER of a stage.
    return matches[-1]


# --------------------------------------------------------------------------
# Compose / env helpers
# --------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose().get("services")
    assert isinstance(services, dict), "compose.yaml has no services"
    svc = services.get(name)
    assert isinstance(svc, dict), f"compose.yaml has no service {name!r}"
    return svc


def command_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    assert isinstance(value, list)
    return [str(item) for item in value]


def depends_conditions(svc: dict[str, Any]) -> dict[str, str]:
    depends = svc.get("depends_on")
    assert isinstance(depends, dict), "depends_on must be the long form with conditions"
    result: dict[str, str] = {}
    for name, spec in depends.items():
        assert isinstance(spec, dict)
        result[str(name)] = str(spec.get("condition", "service_started"))
    return result


def env_files(svc: dict[str, Any]) -> list[str]:
    value = svc.get("env_file")
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    paths: list[str] = []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else item
        paths.append(str(path))
    return paths


def iter_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in iter_strings(key) + iter_strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in iter_strings(item)]
    return []


# ``$$`` is Compose's escape for a literal ``$``, so it is not a reference.
COMPOSE_VAR = re.compile(
    r"(?<!\$)(?:\$\$)*\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))"
)


def compose_variables() -> set[str]:
    names: set[str] = set()
    for text in iter_strings(compose()):
        for braced, bare in COMPOSE_VAR.findall(text):
            names.add(braced or bare)
    return names


def env_example_names() -> set[str]:
    """Variables documented in .env.example, whether set or commented out."""
    pattern = re.compile(r"^#?\s*([A-Z_][A-Z0-9_]*)=")
    names: set[str] = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line.strip())
        if match:
            names.add(match.group(1))
    return names


def health_probe_target(command: str) -> str | None:
    match = re.search(r"https?://[^\s'\"]+", command)
    return match.group(0) if match else None


# --------------------------------------------------------------------------
# Dockerfile tests
# --------------------------------------------------------------------------


def test_dockerfile_parser_joins_continuations() -> None:
    parsed = parse_dockerfile("FROM x AS y\n# c\nRUN a \\\n  # inner\n  && b\nUSER 1\n")
    assert parsed == [
        Instruction("FROM", "x AS y"),
        Instruction("RUN", "a && b"),
        Instruction("USER", "1"),
    ]


def test_dockerfile_is_multi_stage() -> None:
    froms = [i for i in dockerfile_instructions() if i.keyword == "FROM"]
    assert len(froms) >= 2


def test_dockerfile_every_from_uses_slim_python_base() -> None:
    aliases: set[str] = set()
    froms = [i for i in dockerfile_instructions() if i.keyword == "FROM"]
    assert froms
    for instruction in froms:
        image, alias = from_image_and_alias(instruction.args)
        if image not in aliases:
            assert SLIM_PYTHON_IMAGE.match(image), f"base image {image!r} is not python:<ver>-slim"
        if alias:
            aliases.add(alias)


def test_dockerfile_installs_from_requirements_lock() -> None:
    runs = [i.args for i in dockerfile_instructions() if i.keyword == "RUN"]
    copies = [i.args for i in dockerfile_instructions() if i.keyword in {"COPY", "ADD"}]
    assert any("requirements.lock" in c.split() for c in copies), "requirements.lock is not copied"
    assert any(
        "pip install" in r and re.search(r"(?:-r|--requirement)[ =]requirements\.lock\b", r)
        for r in runs
    ), "no `pip install -r requirements.lock`"


def test_dockerfile_final_stage_user_is_not_root() -> None:
    user = only(final_stage(), "USER").args.strip()
    name = user.split(":", 1)[0]
    assert name and name not in ROOT_USERS, f"final stage runs as {user!r}"


def test_dockerfile_cmd_serves_on_all_interfaces_with_web_concurrency() -> None:
    cmd = exec_form(only(final_stage(), "CMD").args)
    joined = " ".join(cmd)
    assert "energy-api serve" in joined
    assert "--host 0.0.0.0" in joined
    assert "${WEB_CONCURRENCY:-2}" in joined
    # Exec-form CMD does not expand variables unless run through a shell.
    assert cmd[:2] == ["sh", "-c"], "CMD must go through `sh -c` so WEB_CONCURRENCY expands"


def test_dockerfile_healthcheck_is_the_liveness_probe() -> None:
    """Engines replace unhealthy containers: a database outage must not replace them all."""
    healthcheck = only(final_stage(), "HEALTHCHECK").args
    assert "CMD" in healthcheck.split(), "HEALTHCHECK must run a command"
    target = health_probe_target(healthcheck)
    assert target is not None and target.endswith("/health/live"), healthcheck
    assert ":8000/" in target


def test_dockerfile_runtime_has_no_pip_or_setuptools() -> None:
    build = "\n".join(i.args for i in stages(dockerfile_instructions())[0] if i.keyword == "RUN")
    assert re.search(r"pip uninstall[^\n]*\bpip\b[^\n]*\bsetuptools\b", build), build


# --------------------------------------------------------------------------
# compose.yaml tests
# --------------------------------------------------------------------------


def test_compose_has_no_version_key() -> None:
    assert "version" not in compose()


def test_compose_db_is_postgres16_with_healthcheck_and_named_volume() -> None:
    db = service("db")
    assert db.get("image") == "postgres:16"
    healthcheck = db.get("healthcheck")
    assert isinstance(healthcheck, dict)
    assert "pg_isready" in " ".join(command_list(healthcheck.get("test")))
    volumes = db.get("volumes")
    assert isinstance(volumes, list) and volumes
    declared = compose().get("volumes")
    assert isinstance(declared, dict)
    mounted: dict[str, str] = {}
    for volume in volumes:
        if isinstance(volume, dict):
            mounted[str(volume.get("target"))] = str(volume.get("source"))
        else:
            src, _, target = str(volume).partition(":")
            mounted[target.split(":", 1)[0]] = src
    source = mounted.get("/var/lib/postgresql/data")
    assert source is not None, "no volume at /var/lib/postgresql/data"
    assert source in declared, f"volume {source!r} is not a named top-level volume"


def test_compose_migrate_runs_migrations_after_db_healthy() -> None:
    migrate = service("migrate")
    assert command_list(migrate.get("command")) == ["energy-api", "migrate"]
    assert depends_conditions(migrate).get("db") == "service_healthy"


def test_compose_api_waits_for_healthy_db_and_completed_migrate() -> None:
    conditions = depends_conditions(service("api"))
    assert conditions.get("db") == "service_healthy"
    assert conditions.get("migrate") == "service_completed_successfully"


def test_compose_api_and_migrate_read_env_file() -> None:
    for name in ("api", "migrate"):
        assert ".env" in env_files(service(name)), f"{name} does not use env_file .env"


def test_compose_api_healthcheck_is_the_readiness_probe() -> None:
    healthcheck = service("api").get("healthcheck")
    assert isinstance(healthcheck, dict)
    target = health_probe_target(" ".join(command_list(healthcheck.get("test"))))
    assert target is not None and target.endswith(":8000/health/ready")


# --------------------------------------------------------------------------
# .env.example / .dockerignore tests
# --------------------------------------------------------------------------


def test_env_example_documents_every_compose_variable() -> None:
    referenced = compose_variables()
    assert referenced, "compose.yaml references no variables"
    missing = referenced - env_example_names()
    assert not missing, f"missing from .env.example: {sorted(missing)}"


def test_env_example_documents_every_app_setting() -> None:
    missing = set(APP_SETTINGS) - env_example_names()
    assert not missing, f"missing from .env.example: {sorted(missing)}"


def test_dockerignore_excludes_env_and_venv() -> None:
    patterns: list[str] = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)

    def excluded(name: str) -> bool:
        state = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").strip("/")
            bare = bare.removeprefix("**/")
            if bare == name:
                state = not negated
        return state

    for name in (".env", ".venv"):
        assert excluded(name), f".dockerignore does not exclude {name}"
