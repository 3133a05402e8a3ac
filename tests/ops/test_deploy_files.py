"""The deployment files in ops/: systemd units, compose, Kubernetes manifests, Dockerfile.

They are read the way their tools read them (YAML through PyYAML, units line by line) and
checked for what an operator would notice: every process runs the Procfile's command, web is
reachable on 5000 with a health check, workers scale on the runs queue, and every SYNCFARM_*
variable they set is one the README documents.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dramatiq.brokers.redis import RedisBroker

from worker.broker import RUNS_QUEUE

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
PROCESSES = ("web", "worker", "cron")
VAR = re.compile(r"\b(?:SYNCFARM_[A-Z0-9_]*[A-Z0-9]|PORT|WEB_CONCURRENCY)\b")
DEPLOY_FILES = [
    OPS / "Dockerfile",
    OPS / "compose.yaml",
    OPS / "compose.env.example",
    *sorted((OPS / "systemd").iterdir()),
    *sorted((OPS / "k8s").glob("*.yaml")),
]


def _readme_variables() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


README_VARS = _readme_variables()
PROCFILE = _procfile()


def _yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _compose() -> dict[str, Any]:
    (doc,) = _yaml_docs(OPS / "compose.yaml")
    return doc


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted((OPS / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _yaml_docs(path):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def _unit(name: str) -> dict[str, list[str]]:
    """A systemd unit as its keys and values (a key may repeat), ignoring sections."""
    values: dict[str, list[str]] = {}
    for line in (OPS / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, value = line.split("=", 1)
        values.setdefault(key.strip(), []).append(value.strip())
    return values


def _env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, and the commented-out `#KEY=value` ones as documented defaults."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_the_readme_and_procfile_are_read() -> None:
    assert {
        "SYNCFARM_MONGO_URL",
        "SYNCFARM_REDIS_URL",
        "SYNCFARM_SECRET_KEY",
        "PORT",
    } <= README_VARS
    assert "SYNCFARM_WORKER_THREADS" in README_VARS  # from "`A` / `B`" rows
    assert set(PROCESSES) <= set(PROCFILE)


@pytest.mark.parametrize("path", sorted(OPS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(OPS)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _yaml_docs(path), f"{path} holds no document"


def test_deploy_files_use_only_documented_variables() -> None:
    for path in DEPLOY_FILES:
        used = set(VAR.findall(path.read_text()))
        assert used <= README_VARS, f"{path.relative_to(ROOT)}: {sorted(used - README_VARS)}"


# --- compose -------------------------------------------------------------------------------


def test_compose_runs_the_procfile_processes_with_mongo_and_redis() -> None:
    services = _compose()["services"]
    assert {"mongo", "redis", *PROCESSES} <= set(services)
    for name in PROCESSES:
        assert " ".join(services[name]["command"]) == PROCFILE[name]
        assert services[name]["build"]["dockerfile"] == "ops/Dockerfile"
        for dependency in ("mongo", "redis"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy"
    assert services["mongo"]["image"].split(":")[0] == "mongo"  # the official image
    assert any(v.endswith(":/data/db") for v in services["mongo"]["volumes"])
    assert services["mongo"]["healthcheck"] and services["redis"]["healthcheck"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["cron"]["deploy"]["replicas"] >= 2


def test_compose_web_publishes_5000_and_checks_healthz() -> None:
    web = _compose()["services"]["web"]
    assert "5000:5000" in web["ports"]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])


def test_compose_shares_the_data_dir_between_web_and_workers() -> None:
    compose = _compose()
    services = compose["services"]
    data_dir = services["web"]["environment"]["SYNCFARM_DATA_DIR"]
    mounts = {name: set(services[name].get("volumes", [])) for name in ("web", "worker")}
    shared = mounts["web"] & mounts["worker"]
    assert any(
        m.split(":")[1] == data_dir and m.split(":")[0] in compose["volumes"] for m in shared
    )
    assert services["worker"]["environment"]["SYNCFARM_DATA_DIR"] == data_dir


def test_compose_takes_urls_and_a_required_secret_key_from_env() -> None:
    env = _compose()["services"]["worker"]["environment"]
    assert env["SYNCFARM_MONGO_URL"].startswith("${SYNCFARM_MONGO_URL:-mongodb://mongo:27017/")
    assert env["SYNCFARM_REDIS_URL"].startswith("${SYNCFARM_REDIS_URL:-redis://redis:6379/")
    assert env["SYNCFARM_SECRET_KEY"].startswith("${SYNCFARM_SECRET_KEY:?")  # no default key
    assert "SYNCFARM_SECRET_KEY" in _env_file(OPS / "compose.env.example")


def _docker_compose() -> list[str] | str:
    """The command that runs Compose: `docker compose` (v2) or Debian's `docker-compose`
    (1.29, which reads the same file); else why there is none."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    return "neither the docker compose plugin nor docker-compose is installed"


def test_docker_compose_accepts_the_compose_file(tmp_path: Path) -> None:
    compose = _docker_compose()
    if isinstance(compose, str):
        if os.environ.get("CI"):
            pytest.fail(f"cannot run `docker compose config` in CI: {compose}")
        pytest.skip(f"cannot run `docker compose config`: {compose}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFARM_")}
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    command = [*compose, "--env-file", str(empty_env_file), "-f", "ops/compose.yaml"]

    refused = subprocess.run(
        [*command, "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "SYNCFARM_SECRET_KEY" in refused.stderr

    env["SYNCFARM_SECRET_KEY"] = "a-test-passphrase-of-enough-length"
    accepted = subprocess.run(
        [*command, "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert accepted.returncode == 0, accepted.stderr
    resolved = yaml.safe_load(accepted.stdout)
    assert {"mongo", "redis", *PROCESSES} <= set(resolved["services"])
    (port,) = resolved["services"]["web"]["ports"]
    published = port["published"] if isinstance(port, dict) else str(port).split(":")[0]
    assert published in (5000, "5000")


# --- systemd -------------------------------------------------------------------------------

UNITS = {
    "web": "syncfarm-web.service",
    "worker": "syncfarm-worker@.service",
    "cron": "syncfarm-cron.service",
}


@pytest.mark.parametrize("process", PROCESSES)
def test_systemd_units_run_the_procfile_commands_hardened(process: str) -> None:
    unit = _unit(UNITS[process])
    (exec_start,) = unit["ExecStart"]
    program, *args = exec_start.split()
    assert " ".join([Path(program).name, *args]) == PROCFILE[process]
    assert unit["User"] == ["syncfarm"]
    assert unit["Restart"] == ["always"]
    assert unit["EnvironmentFile"] == ["/etc/syncfarm/syncfarm.env"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["PrivateTmp"] == ["yes"]
    data_dir = _env_file(OPS / "systemd" / "syncfarm.env.example")["SYNCFARM_DATA_DIR"]
    writable = " ".join(unit["ReadWritePaths"]).split()
    assert any(Path(data_dir).is_relative_to(path) for path in writable), writable
    assert "multi-user.target" in unit["WantedBy"]


def test_the_example_env_file_lists_every_documented_variable() -> None:
    listed = _env_file(OPS / "systemd" / "syncfarm.env.example")
    assert set(listed) == README_VARS, sorted(README_VARS ^ set(listed))


# --- Kubernetes ----------------------------------------------------------------------------


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_k8s_deployments_run_the_procfile_commands() -> None:
    objects = _k8s()
    assert ("Namespace", "syncfarm") in objects
    for process in PROCESSES:
        deployment = objects[("Deployment", f"syncfarm-{process}")]
        container = _container(deployment)
        assert " ".join(container["command"]) == PROCFILE[process]
        assert container["image"] == "syncfarm"  # rewritten by kustomization.yaml's images
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"syncfarm"}  # the ConfigMap and the Secret
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
    assert objects[("Deployment", "syncfarm-cron")]["spec"]["replicas"] >= 2


def test_k8s_web_has_a_service_and_healthz_probes() -> None:
    objects = _k8s()
    web = _container(objects[("Deployment", "syncfarm-web")])
    assert {"name": "http", "containerPort": 5000} in web["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["path"] == "/healthz"
    service = objects[("Service", "syncfarm-web")]
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "syncfarm-web"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_k8s_workers_scale_on_the_runs_queue() -> None:
    namespace = inspect.signature(RedisBroker.__init__).parameters["namespace"].default
    queue_key = f"{namespace}:{RUNS_QUEUE}"  # Dramatiq's list of messages not yet taken
    assert queue_key == "dramatiq:runs"
    scaled = _k8s()[("ScaledObject", "syncfarm-worker")]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "syncfarm-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == queue_key
    assert int(trigger["metadata"]["listLength"]) > 0
    assert scaled["spec"]["minReplicaCount"] >= 1  # delayed messages need a running worker


def test_k8s_data_dir_is_a_shared_claim_for_web_and_workers() -> None:
    objects = _k8s()
    claim = objects[("PersistentVolumeClaim", "syncfarm-data")]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    data_dir = objects[("ConfigMap", "syncfarm")]["data"]["SYNCFARM_DATA_DIR"]
    for process in ("web", "worker"):
        pod = objects[("Deployment", f"syncfarm-{process}")]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts[data_dir]]["persistentVolumeClaim"]["claimName"] == "syncfarm-data"


def test_k8s_config_names_documented_variables_and_expects_managed_databases() -> None:
    objects = _k8s()
    assert set(objects[("ConfigMap", "syncfarm")]["data"]) <= README_VARS
    secret = objects[("Secret", "syncfarm")]["stringData"]
    assert {"SYNCFARM_MONGO_URL", "SYNCFARM_REDIS_URL", "SYNCFARM_SECRET_KEY"} <= set(secret)
    assert set(secret) <= README_VARS
    images = [
        _container(obj)["image"] for (kind, _), obj in objects.items() if kind == "Deployment"
    ]
    assert not [image for image in images if "mongo" in image or "redis" in image]


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    (kustomization,) = _yaml_docs(OPS / "k8s" / "kustomization.yaml")
    manifests = {p.name for p in (OPS / "k8s").glob("*.yaml")}
    assert set(kustomization["resources"]) == manifests - {
        "kustomization.yaml",
        "secret.example.yaml",
    }
    assert kustomization["images"][0]["name"] == "syncfarm"


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (OPS / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install .") for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("root", "0")
