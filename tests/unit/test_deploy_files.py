"""The deployment files in deploy/ (no Docker engine or cluster here): they parse, they run the
real ``wisesync`` commands, and the Dockerfile, compose file and Kubernetes manifests agree
with each other and with the configuration they ship."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from wisesync.cli import _add_core_commands, cli
from wisesync.config import AppConfig, parse_config
from wisesync.daemon import ROLES, parse_roles
from wisesync.plugins import registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

_add_core_commands()


# --- helpers ---------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "a continued line never ends"
    return out


def instructions(name: str, stage: int | None = -1) -> list[str]:
    """Arguments of every ``name`` instruction (in the last stage by default)."""
    stages: list[list[tuple[str, str]]] = []
    for word, rest in dockerfile():
        if word == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word, rest))
    picked = [i for s in stages for i in s] if stage is None else stages[stage]
    return [rest for word, rest in picked if word == name]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def env_of_image() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["_file"] = path.name
                docs.append(doc)
    return docs


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def deployments() -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] == "Deployment"]


def command_of(argv: list[str]) -> str:
    """Check that ``argv`` (after the program) is a real ``wisesync`` command line; return it."""
    assert argv, "no command"
    name = argv[0]
    assert name in cli.commands, f"{name!r} is not a wisesync command"
    ctx = cli.commands[name].make_context(name, list(argv[1:]), resilient_parsing=False)
    if name == "run":
        assert set(parse_roles(ctx.params["roles"])) <= set(ROLES)
    return name


def shipped_config(text: str, file: str) -> AppConfig:
    # the form only: the deployment's environment (its DSN variable) is not this process's
    data = tomllib.loads(text)
    return registry().checked(parse_config(data, file=file, environ={}, require_dsn=False))


def secret_names(config: AppConfig) -> set[str]:
    """Every environment variable the config names (``*_env`` keys) plus the core's two."""
    names = {"WISESYNC_DSN", "WISESYNC_SECRET_KEY"}
    for company in config.companies:
        for section in company.settings.values():
            names.update(v for k, v in section.items() if k.endswith("_env"))
    return names


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_builds_from_python_311_slim_and_runs_wisesync_run_as_non_root() -> None:
    steps = dockerfile()
    first_from = [w for w, _ in steps].index("FROM")
    args = dict(r.split("=", 1) for w, r in steps[:first_from] if w == "ARG")
    images = [r.split()[0] for w, r in steps if w == "FROM"]
    resolved = [args[i[2:-1]] if i.startswith("${") else i for i in images]
    assert resolved == ["python:3.11-slim"] * len(images)

    users = instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any("useradd" in r and "10001" in r for r in instructions("RUN"))

    entry = exec_form(instructions("ENTRYPOINT")[-1])
    cmd = exec_form(instructions("CMD")[-1])
    assert entry == ["wisesync"]
    assert command_of(cmd) == "run"

    health = instructions("HEALTHCHECK")[-1]
    assert "/healthz" in health and "CMD" in health
    port = env_of_image()["WISESYNC_METRICS_PORT"]
    assert instructions("EXPOSE")[-1] == port == "9464"


def test_dockerfile_installs_the_core_and_every_plugin_from_the_repository() -> None:
    build = " ".join(instructions("RUN", 0))
    plugins = sorted(p.parent.name for p in ROOT.glob("plugins/*/setup.cfg"))
    assert plugins, "no plugins found"
    assert "pip install ./ " in build
    for name in plugins:
        assert f"./plugins/{name}" in build, f"plugin {name} is not installed in the image"
    # Every COPY source exists in the build context (the repository root).
    for rest in instructions("COPY", None):
        if "--from=" in rest:
            continue
        *sources, _dest = shlex.split(rest)
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    # The schemas ship inside the package: events/schemas links to schemas/, so both
    # are copied before the install, and no directory override is needed at run time.
    env = env_of_image()
    assert any(r.startswith("schemas ") for r in instructions("COPY", 0))
    assert "WISESYNC_SCHEMAS_DIR" not in env
    assert env["WISESYNC_CONFIG"] == "/etc/wisesync/wisesync.toml"


def test_dockerignore_keeps_the_venv_out_and_the_sources_in() -> None:
    rules = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "**"  # everything out, then what the Dockerfile copies back in
    for needed in ("setup.cfg", "pyproject.toml", "README.md", "wisesync", "schemas"):
        assert f"!{needed}" in rules
    assert "**/__pycache__" in rules and "**/*.egg-info" in rules


# --- docker compose --------------------------------------------------------------------------


def test_compose_runs_kafka_kraft_postgres_16_and_wisesync() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "postgres", "wisesync"}

    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    kenv = kafka["environment"]
    assert kenv["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert kenv["CLUSTER_ID"] and "ZOOKEEPER" not in " ".join(kenv)
    assert str(kenv["KAFKA_NODE_ID"]) == kenv["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[0]
    assert kenv["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    app = services["wisesync"]
    assert app["build"]["context"] == ".."
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    assert command_of(app["command"]) == "run"
    env = app["environment"]
    pg = postgres["environment"]
    assert env["WISESYNC_DSN"].startswith(f"postgresql://{pg['POSTGRES_USER']}:")
    assert env["WISESYNC_DSN"].endswith(f"@postgres:5432/{pg['POSTGRES_DB']}")
    assert env["WISESYNC_SECRET_KEY"].startswith("${WISESYNC_SECRET_KEY:?")  # required
    for dep in ("kafka", "postgres"):
        assert app["depends_on"][dep]["condition"] == "service_healthy"


def test_compose_mounts_a_kafka_config_that_wisesync_accepts() -> None:
    app = compose()["services"]["wisesync"]
    mounts = [v.split(":") for v in app["volumes"]]
    (source, target, mode) = next(m for m in mounts if m[1].endswith("wisesync.toml"))
    assert mode == "ro" and target == app["environment"]["WISESYNC_CONFIG"]
    path = DEPLOY / source
    config = shipped_config(path.read_text(), str(path))  # runs the plugins' checks too
    assert config.transport == "kafka"
    kafka_env = compose()["services"]["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("://", 1)[1]
    assert config.kafka.bootstrap_servers == advertised
    # Every secret the file names is passed into the container.
    assert secret_names(config) <= set(app["environment"])
    port = app["ports"][0].rsplit(":", 1)[1]
    assert int(port) == config.metrics_port


# --- Kubernetes --------------------------------------------------------------------------------


def test_k8s_manifests_parse_and_the_kustomization_lists_them() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in k8s_documents())
    assert kinds == [
        ("ConfigMap", "wisesync-config"),
        ("Deployment", "wisesync-poster"),
        ("Deployment", "wisesync-workers"),
        ("Secret", "wisesync-secrets"),
        ("Service", "wisesync-metrics"),
    ]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    files = {d["_file"] for d in k8s_documents()}
    assert set(kustomization["resources"]) == files - {"secret.example.yaml"}  # real one: yours
    assert [i["name"] for i in kustomization["images"]] == ["wisesync"]


def test_k8s_config_map_holds_a_kafka_config_like_the_compose_one() -> None:
    data = k8s("ConfigMap", "wisesync-config")["data"]
    config = shipped_config(data["wisesync.toml"], "configmap.yaml:wisesync.toml")
    assert config.transport == "kafka"
    local = shipped_config((DEPLOY / "wisesync.toml").read_text(), "wisesync.toml")
    # The same deployment, only the Kafka address differs.
    assert config.companies == local.companies
    assert (config.group, config.metrics_port, config.kafka.partitions) == (
        local.group,
        local.metrics_port,
        local.kafka.partitions,
    )
    secret = k8s("Secret", "wisesync-secrets")
    assert secret_names(config) == set(secret["stringData"])


@pytest.mark.parametrize("name", ["wisesync-poster", "wisesync-workers"])
def test_k8s_deployments_run_wisesync_with_probes_secrets_and_config(name: str) -> None:
    dep = k8s("Deployment", name)
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    assert container["image"].split(":")[0] == "wisesync"  # kustomization's images: rewrites it
    assert command_of(container["args"]) == "run"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = shipped_config(k8s("ConfigMap", "wisesync-config")["data"]["wisesync.toml"], "cm")
    assert ports["metrics"] == config.metrics_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {"secretRef": {"name": "wisesync-secrets"}} in container["envFrom"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["WISESYNC_CONFIG"] == mount["mountPath"] + "/wisesync.toml"
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "wisesync-config"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] >= 30  # SIGTERM finishes the batch in hand


def test_k8s_posters_scale_by_replicas_and_the_workers_run_the_other_roles() -> None:
    def roles(name: str) -> tuple[str, ...]:
        (container,) = k8s("Deployment", name)["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        return parse_roles([args[i + 1] for i, a in enumerate(args) if a == "--role"])

    assert roles("wisesync-poster") == ("poster",)
    assert k8s("Deployment", "wisesync-poster")["spec"]["replicas"] > 1
    workers = roles("wisesync-workers")
    assert sorted(workers) == sorted(set(ROLES) - {"poster"})
    assert k8s("Deployment", "wisesync-workers")["spec"]["replicas"] == 1
    assert "partitions" in (K8S / "deployment-poster.yaml").read_text()  # the scaling note


def test_k8s_metrics_service_selects_every_wisesync_pod() -> None:
    service = k8s("Service", "wisesync-metrics")
    selector = service["spec"]["selector"].items()
    for dep in deployments():
        assert selector <= dep["spec"]["template"]["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics" and port["port"] == 9464


def test_deploy_readme_explains_each_file() -> None:
    text = (DEPLOY / "README.md").read_text()
    for name in (
        "Dockerfile",
        "docker-compose.yml",
        "wisesync.toml",
        *(p.name for p in sorted(K8S.glob("*.yaml"))),
    ):
        assert name in text, f"deploy/README.md does not mention {name}"
