"""deploy/: the Dockerfile, the compose file and the Kubernetes manifests, checked without a container
engine or a cluster (neither runs in CI): every manifest against Kubernetes' own schemas (the
kubernetes-validate package ships them, so this works offline), the wiring between the files (names,
ports, mounts, the secret), and every tswarm command line in them against tswarm's own CLI, so that a
misspelt option fails here rather than in a cluster.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml
from conftest import free_port
from test_distributed import procs

from tswarm.cli.app import app
from tswarm.secret import new_secret

__all__ = ["procs"]  # the fixture, imported for the tests of this module

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
EXAMPLE_TEST = DEPLOY / "locustfile.py"

#: the oldest Kubernetes the manifests are meant for (docs/deploy.md says so), and the newest whose
#: schemas the installed kubernetes-validate ships
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())
#: the image every container runs
IMAGE = "tswarm:latest"
#: where the image keeps the health check (deploy/listening.py)
HEALTH_CHECK = "/usr/local/lib/tswarm/listening.py"
#: the Secret and its key that README tells how to make
SECRET_NAME, SECRET_KEY = "tswarm-secret", "secret"

CLI = typer.main.get_command(app)


# -- reading the files ----------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/k8s."""
    return sorted(K8S.rglob("*.yaml"))


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every object of every manifest, with its file."""
    return [
        (path, doc)
        for path in manifest_files()
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def manifest(relative: str, kind: str) -> dict[str, Any]:
    """The one object of ``kind`` in deploy/k8s/``relative``."""
    docs = [d for p, d in manifests() if p == K8S / relative and d["kind"] == kind]
    assert len(docs) == 1, f"{relative} should hold one {kind}"
    return docs[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a Pod, Job or Deployment; None for other kinds."""
    if doc["kind"] == "Pod":
        spec: dict[str, Any] = doc["spec"]
        return spec
    if doc["kind"] in ("Job", "Deployment"):
        template: dict[str, Any] = doc["spec"]["template"]["spec"]
        return template
    return None


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (
        doc["metadata"] if doc["kind"] == "Pod" else doc["spec"]["template"]["metadata"]
    ).get("labels", {})
    return labels


def tswarm_containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(where, the object, its pod spec, the container) for every container that runs tswarm (the
    image's entrypoint: no ``command`` of its own)."""
    for path, doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in spec["containers"]:
            if "command" not in container:
                where = f"{path.relative_to(ROOT)} ({doc['kind']} {doc['metadata']['name']})"
                yield where, doc, spec, container


def tswarm_params(argv: list[str], where: str) -> dict[str, Any]:
    """Check a tswarm command line (without the program name) against tswarm's CLI and return the
    parsed values of its options. Fails on an unknown command, an unknown option, a value of the
    wrong type and a stray argument: tswarm itself accepts unknown options, for the test file's own."""
    assert argv, f"{where}: no tswarm command"
    name = argv[0]
    assert name in CLI.commands, f"{where}: tswarm has no command {name!r}"
    command = CLI.commands[name]
    options = {opt: p for p in command.params for opt in [*p.opts, *p.secondary_opts] if opt.startswith("-")}
    rest = iter(argv[1:])
    for token in rest:
        assert isinstance(token, str), f"{where}: {token!r} is not a string (quote numbers in YAML)"
        assert token.startswith("-") and token != "-", f"{where}: stray argument {token!r} for tswarm {name}"
        option, has_value, _ = token.partition("=")
        param = options.get(option)
        assert param is not None, f"{where}: tswarm {name} has no option {option}"
        if not getattr(param, "is_flag", False) and not has_value:
            assert next(rest, None) is not None, f"{where}: {option} lacks its value"
    context = command.make_context(f"tswarm {name}", list(argv[1:]))
    assert not context.args, f"{where}: tswarm {name} would not know {context.args}"
    return dict(context.params)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


def interpolated(value: str) -> str:
    """``value`` as compose reads it when none of its variables is set: ``${VAR:-default}`` is the
    default. Fails on a variable without a default (it would break a plain ``docker compose up``)."""

    def default(match: re.Match[str]) -> str:
        assert match.group(2) is not None, f"${{{match.group(1)}}} in compose.yaml has no default"
        return match.group(2)

    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", default, value)


def compose_command(service: str) -> dict[str, Any]:
    """The parsed options of a compose service's tswarm command line."""
    argv = [interpolated(str(token)) for token in compose()["services"][service]["command"]]
    return tswarm_params(argv, f"compose.yaml service {service}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_values(keyword: str) -> list[str]:
    return [arguments for k, arguments in dockerfile_instructions() if k == keyword]


@pytest.fixture(autouse=True)
def _no_tswarm_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse the command lines as written, whatever TSWARM_* this shell has."""
    for name in list(os.environ):
        if name.startswith(("TSWARM_", "LOCUST_")):
            monkeypatch.delenv(name)


# -- Kubernetes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_for_kubernetes(path: Path, version: str) -> None:
    """Strict: a misspelt or misplaced field fails as well as a wrong type."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert docs, f"{path} holds no object"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(part) for part in e.path)
            pytest.fail(
                f"{path.relative_to(ROOT)}: {doc['kind']} {where}: {e.message} (Kubernetes {version})"
            )
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "tswarm"


def test_the_schema_check_catches_a_misspelt_field() -> None:
    """The validation above is not a formality: a field Kubernetes does not know fails it."""
    job = manifest("ci/worker-job.yaml", "Job")
    kubernetes_validate.validate(job, K8S_VERSIONS[0], strict=True)
    misspelt = copy.deepcopy(job)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError, match="resource"):
        kubernetes_validate.validate(misspelt, K8S_VERSIONS[0], strict=True)


def test_every_container_runs_the_image_with_a_valid_tswarm_command_line() -> None:
    seen = set()
    for where, _doc, _spec, container in tswarm_containers():
        assert container["image"] == IMAGE, where
        assert container.get("imagePullPolicy") == "IfNotPresent", f"{where}: a loaded image would be pulled"
        params = tswarm_params([str(a) for a in container["args"]], where)
        seen.add(container["args"][0])
        for variable in container.get("env", []):
            if variable["name"].startswith("TSWARM_"):
                envvars = {p.envvar for p in CLI.commands[container["args"][0]].params}
                assert variable["name"] in envvars, f"{where}: tswarm does not read {variable['name']}"
        assert not params.get("processes"), f"{where}: one worker per pod, scaled by Kubernetes"
    assert seen == {"master", "worker", "target"}


def _masters_and_workers() -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    masters, workers = [], []
    for where, doc, spec, container in tswarm_containers():
        role = container["args"][0]
        if role == "master":
            masters.append((where, {"doc": doc, "spec": spec, "container": container}))
        elif role == "worker":
            workers.append((where, {"doc": doc, "spec": spec, "container": container}))
    assert len(masters) == 2 and len(workers) == 2, "one master and one worker set per flavour"
    return masters, workers


def _params(entry: dict[str, Any], where: str) -> dict[str, Any]:
    return tswarm_params([str(a) for a in entry["container"]["args"]], where)


def test_workers_reach_the_master_through_its_service() -> None:
    service = manifest("common/master-service.yaml", "Service")
    (port,) = service["spec"]["ports"]
    masters, workers = _masters_and_workers()
    for where, master in masters:
        params = _params(master, where)
        assert params["master_bind_port"] == port["port"], where
        named = {p["name"]: p["containerPort"] for p in master["container"]["ports"]}
        assert named[port["targetPort"]] == port["port"], f"{where}: the Service's targetPort"
        labels = pod_labels(master["doc"])
        assert service["spec"]["selector"].items() <= labels.items(), f"{where}: the Service misses it"
        probe = master["container"]["readinessProbe"]["exec"]["command"]
        assert probe == ["python", HEALTH_CHECK, str(port["port"])], where
    for where, worker in workers:
        params = _params(worker, where)
        assert params["master_host"] == service["metadata"]["name"], where
        assert params["master_port"] == port["port"], where
        assert params["locustfile"] == "-", f"{where}: workers fetch the test file from the master"
        labels = pod_labels(worker["doc"])
        assert not service["spec"]["selector"].items() <= labels.items(), f"{where}: the Service selects it"


def _mount_of(spec: dict[str, Any], container: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The volume that holds ``path`` in ``container``, and ``path`` relative to its mount."""
    for mount in container.get("volumeMounts", []):
        mount_path = PurePosixPath(mount["mountPath"])
        if PurePosixPath(path).is_relative_to(mount_path):
            (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
            return volume, str(PurePosixPath(path).relative_to(mount_path))
    raise AssertionError(f"nothing is mounted at {path}")


def test_the_secret_file_is_the_secret_mounted_into_every_master_and_worker() -> None:
    masters, workers = _masters_and_workers()
    for where, entry in [*masters, *workers]:
        params = _params(entry, where)
        assert params["secret_file"], f"{where}: no --secret-file"
        volume, name = _mount_of(entry["spec"], entry["container"], params["secret_file"])
        assert volume["secret"]["secretName"] == SECRET_NAME, where
        assert name == SECRET_KEY, where
        assert entry["spec"]["securityContext"]["fsGroup"] == 10001, f"{where}: the user could not read it"
    readme = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"kubectl create secret generic {SECRET_NAME} --from-literal={SECRET_KEY}=" in readme


def test_the_master_loads_the_test_file_of_the_configmap() -> None:
    configmap = manifest("common/locustfile-configmap.yaml", "ConfigMap")
    masters, _ = _masters_and_workers()
    for where, master in masters:
        params = _params(master, where)
        volume, key = _mount_of(master["spec"], master["container"], params["locustfile"])
        assert volume["configMap"]["name"] == configmap["metadata"]["name"], where
        assert key in configmap["data"], where
    assert configmap["data"]["locustfile.py"] == EXAMPLE_TEST.read_text(encoding="utf-8"), (
        "the ConfigMap's copy of deploy/locustfile.py differs from it"
    )


def test_the_master_aims_at_the_target_service() -> None:
    target = manifest("target/target.yaml", "Service")
    (port,) = target["spec"]["ports"]
    masters, _ = _masters_and_workers()
    for where, master in masters:
        assert _params(master, where)["host"] == f"http://{target['metadata']['name']}:{port['port']}", where


def test_a_worker_pod_gets_one_core() -> None:
    _, workers = _masters_and_workers()
    for where, worker in workers:
        resources = worker["container"]["resources"]
        assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "1", where
        assert resources["requests"]["memory"] and resources["limits"]["memory"], where


def test_the_interactive_flavour_has_a_terminal_ui_and_a_worker_deployment() -> None:
    job = manifest("interactive/master-job.yaml", "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["tty"] and container["stdin"], "kubectl attach -it needs both"
    assert not tswarm_params([str(a) for a in container["args"]], "interactive master")["headless"]
    deployment = manifest("interactive/worker-deployment.yaml", "Deployment")
    assert deployment["spec"]["replicas"] >= 1


def test_the_ci_flavour_waits_for_its_workers_and_keeps_its_outputs() -> None:
    job = manifest("ci/master-job.yaml", "Job")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    params = tswarm_params([str(a) for a in container["args"]], "ci master")
    assert params["headless"] and params["run_time"], "a CI run ends by itself"
    assert params["expect_workers_max_wait"] > 0, "fewer workers than expected must fail, not hang"
    workers = manifest("ci/worker-job.yaml", "Job")
    assert workers["spec"]["completionMode"] == "Indexed"
    assert params["expect_workers"] == workers["spec"]["parallelism"] == workers["spec"]["completions"]
    claim = manifest("ci/results-pvc.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    for output in (params["json"], params["csv"]):
        volume, _ = _mount_of(spec, container, output)
        assert volume["persistentVolumeClaim"]["claimName"] == claim, output
    for doc in (job, workers):
        assert doc["spec"]["activeDeadlineSeconds"] > 0, "every run is bounded"
    reader_path = K8S / "ci" / "fetch" / "results-reader.yaml"
    reader = manifest(str(reader_path.relative_to(K8S)), "Pod")
    (volume,) = reader["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim
    # `kubectl apply -f deploy/k8s/ci` does not go into subfolders: the reader, which mounts the same
    # ReadWriteOnce volume, cannot keep the master from starting on another node
    assert reader_path.parent != K8S / "ci"


# -- Compose --------------------------------------------------------------------------------------------


def test_compose_services_run_the_image_built_from_this_checkout() -> None:
    services = compose()["services"]
    assert set(services) == {"target", "master", "worker"}
    for name, service in services.items():
        assert service["image"] == IMAGE, name
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, name
    assert compose_command("master")["headless"], "compose runs the master headless"
    target = tswarm_params([interpolated(a) for a in services["target"]["command"]], "compose target")
    assert compose_command("master")["host"] == f"http://target:{target['port']}"
    assert target["host"] == "0.0.0.0", "the target must be reachable from the workers' containers"


def test_compose_worker_can_be_scaled() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale needs neither"
    replicas = worker["deploy"]["replicas"]
    assert "WORKERS" in replicas, "the number of workers is WORKERS"
    master_command = " ".join(compose()["services"]["master"]["command"])
    assert re.search(r"--expect-workers \$\{WORKERS:-\d+\}", master_command)
    assert int(interpolated(replicas)) == compose_command("master")["expect_workers"]
    assert worker["deploy"]["resources"]["limits"]["cpus"] == "1"


def test_compose_workers_reach_the_master_when_it_is_healthy() -> None:
    services = compose()["services"]
    master, worker = compose_command("master"), compose_command("worker")
    assert worker["master_host"] == "master" and "master" in services
    assert worker["master_port"] == master["master_bind_port"]
    assert worker["locustfile"] == "-"
    assert services["master"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        HEALTH_CHECK,
        str(master["master_bind_port"]),
    ]
    assert services["worker"]["depends_on"]["master"]["condition"] == "service_healthy"
    target = tswarm_params([interpolated(a) for a in services["target"]["command"]], "compose target")
    assert services["target"]["healthcheck"]["test"] == ["CMD", "python", HEALTH_CHECK, str(target["port"])]
    assert services["master"]["depends_on"]["target"]["condition"] == "service_healthy"


def test_compose_secret_is_where_the_command_reads_it() -> None:
    data = compose()
    assert data["secrets"]["tswarm_secret"] == {"environment": "TSWARM_SECRET"}
    uid = _image_uid()
    for name in ("master", "worker"):
        path = compose_command(name)["secret_file"]
        (secret,) = data["services"][name]["secrets"]
        assert secret["source"] == "tswarm_secret", name
        target = secret["target"] if secret["target"].startswith("/") else f"/run/secrets/{secret['target']}"
        assert target == path, f"{name}: --secret-file {path} is not the secret's file {target}"
        assert secret["uid"] == str(uid), f"{name}: the image's user could not read it"


def test_compose_mounts_the_test_file_and_keeps_the_outputs() -> None:
    data = compose()
    master = compose_command("master")
    volumes = [interpolated(v) for v in data["services"]["master"]["volumes"]]
    sources = {v.split(":")[1]: v.split(":")[0] for v in volumes}
    assert master["locustfile"] in sources, "the master's test file is not mounted"
    assert (DEPLOY / sources[master["locustfile"]]).resolve() == EXAMPLE_TEST
    for output in (master["json"], master["csv"]):
        (volume,) = [s for t, s in sources.items() if PurePosixPath(output).is_relative_to(t)]
        assert volume in data["volumes"], f"{output} is not on a named volume"


# -- the image ------------------------------------------------------------------------------------------


def _image_uid() -> int:
    user = dockerfile_values("USER")[-1]
    assert re.fullmatch(r"\d+(:\d+)?", user), "a numeric USER lets Kubernetes' runAsNonRoot check it"
    return int(user.split(":")[0])


def test_dockerfile_builds_a_slim_image_that_runs_tswarm_as_a_user() -> None:
    args = dict(a.split("=", 1) for a in dockerfile_values("ARG") if "=" in a)
    for base in dockerfile_values("FROM"):
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        assert image.startswith("python:") and image.endswith("-slim"), image
    uid = _image_uid()
    assert uid != 0
    instructions = dockerfile_instructions()
    assert [k for k, _ in instructions].index("ENTRYPOINT") > max(
        i for i, (k, _) in enumerate(instructions) if k == "USER"
    )
    (entrypoint,) = dockerfile_values("ENTRYPOINT")
    assert json.loads(entrypoint) == ["tswarm"]
    (cmd,) = dockerfile_values("CMD")
    default = tswarm_params(json.loads(cmd), "Dockerfile CMD")
    assert default["locustfile"] == "-" and default["master_host"] == "master", "the default is a worker"
    for where, _doc, spec, _container in tswarm_containers():
        assert spec["securityContext"]["runAsUser"] == uid and spec["securityContext"]["runAsNonRoot"], where


def test_dockerfile_installs_tswarm_from_this_checkout() -> None:
    copies = [c.split() for c in dockerfile_values("COPY") if not c.startswith("--from")]
    sources = {source.rstrip("/") for *found, _dest in copies for source in found}
    assert {"pyproject.toml", "README.md", "tswarm"} <= sources
    runs = " ".join(dockerfile_values("RUN"))
    assert "pip wheel" in runs and "--wheel-dir /wheels ." in runs
    assert re.search(r"pip install /wheels/tswarm-\*\.whl", runs)
    assert ["deploy/listening.py", HEALTH_CHECK] in copies


def _dockerignore_excludes(path: str) -> bool:
    """Whether BuildKit leaves ``path`` (relative to the context) out, by the rules of a .dockerignore:
    the last pattern that matches the path or one of its parent folders wins; ``!`` takes back."""

    def matches(pattern: str, candidate: str) -> bool:
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        return re.fullmatch(regex, candidate) is not None

    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        if any(matches(pattern, c) for c in candidates):
            excluded = not negated
    return excluded


def test_build_context_holds_what_the_wheel_is_built_from_and_nothing_else() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = ["pyproject.toml", project["project"]["readme"], *wheel["force-include"]]
    needed += [str(p.relative_to(ROOT)) for pkg in wheel["packages"] for p in (ROOT / pkg).rglob("*.py")]
    copies = [c.split() for c in dockerfile_values("COPY") if not c.startswith("--from")]
    needed += [source for *found, _dest in copies for source in found]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not _dockerignore_excludes(path.rstrip("/")), f"{path} is left out of the build context"
    for path in (
        ".git/HEAD",
        "tests/test_deploy.py",
        "deploy/compose.yaml",
        "docs/deploy.md",
        ".venv/x",
        "tswarm/__pycache__/app.cpython-311.pyc",
        "deploy/.env",
        "cluster.key",
    ):
        assert _dockerignore_excludes(path), f"{path} would go into the build context"


def test_readme_command_lines_are_valid() -> None:
    """The tswarm command lines docs/deploy.md gives to the image."""
    lines = [
        line.split(IMAGE, 1)[1]
        for line in (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("docker run ") and IMAGE in line
    ]
    commands = [shlex.split(line.split("#")[0]) for line in lines]
    assert any(argv and argv[0] == "worker" for argv in commands)
    for argv in commands:
        if argv and not argv[0].startswith("-"):
            tswarm_params(argv, f"docs/deploy.md: {' '.join(argv)}")


# -- the health check -----------------------------------------------------------------------------------


def _run_health_check(*args: str) -> int:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "listening.py"), *args], capture_output=True, timeout=30
    ).returncode


@pytest.mark.parametrize("family, address", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_health_check_tells_a_listening_port(family: socket.AddressFamily, address: str) -> None:
    try:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((address, 0))
    except OSError as e:
        pytest.skip(f"no {address} here: {e}")
    with server:
        port = server.getsockname()[1]
        assert _run_health_check(str(port)) == 1, "bound but not listening yet"
        server.listen()
        assert _run_health_check(str(port)) == 0
    assert _run_health_check(str(port)) == 1
    assert _run_health_check() == 2
    assert _run_health_check("x") == 2


# -- the command lines at work --------------------------------------------------------------------------


def _on_this_machine(argv: list[str], values: dict[str, str], paths: dict[str, Path]) -> list[str]:
    """``argv`` with the values of the options in ``values`` replaced, and the containers' paths
    (``paths``: a container's folder and the local one in its place) made local."""
    rewritten: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        rewritten.append(token)
        if token in values:
            next(tokens)
            rewritten.append(values[token])
    missing = set(values) - set(rewritten)
    assert not missing, f"the command line no longer has {missing}: {argv}"
    for i, token in enumerate(rewritten):
        for folder, local in paths.items():
            if token.startswith(folder + "/"):
                rewritten[i] = str(local / token[len(folder) + 1 :])
    return rewritten


def _command_lines(flavour: str) -> tuple[list[str], list[str]]:
    """The master's and a worker's tswarm command lines of a flavour, as written."""
    if flavour == "compose":
        services = compose()["services"]
        master_command, worker_command = services["master"]["command"], services["worker"]["command"]
        return [interpolated(str(a)) for a in master_command], [interpolated(str(a)) for a in worker_command]
    master = manifest("ci/master-job.yaml", "Job")["spec"]["template"]["spec"]["containers"][0]
    worker = manifest("ci/worker-job.yaml", "Job")["spec"]["template"]["spec"]["containers"][0]
    return [str(a) for a in master["args"]], [str(a) for a in worker["args"]]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("flavour", ["compose", "kubernetes ci"])
def test_the_command_lines_run_a_test_together(flavour: str, tmp_path: Path, target: Any, procs: Any) -> None:
    """The master's and the workers' command lines as written, on this machine: the secret, the test
    file fetched by the workers and the outputs work together. Only what a container or a cluster
    gives differently is replaced: addresses, ports, paths, and a shorter and smaller load."""
    master_argv, worker_argv = _command_lines(flavour)
    paths = {"/tests": tmp_path / "tests", "/results": tmp_path / "results", "/run/secrets": tmp_path / "run"}
    for local in paths.values():
        local.mkdir()
    (paths["/tests"] / "locustfile.py").write_text(EXAMPLE_TEST.read_text(encoding="utf-8"))
    # the secret where the containers find it (a compose secret or the Kubernetes Secret's file)
    secret_path = tswarm_params(master_argv, flavour)["secret_file"]
    secret_file = Path(_on_this_machine([secret_path], {}, paths)[0])
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text(new_secret() + "\n")
    port = str(free_port())
    workers = 2
    master = procs(
        *_on_this_machine(
            master_argv,
            {
                "--host": target.url,
                "--users": "4",
                "--spawn-rate": "100",
                "--run-time": "3s",
                "--expect-workers": str(workers),
                "--master-bind-port": port,
            },
            paths,
        ),
        "--master-bind-host",
        "127.0.0.1",
        cwd=tmp_path,
    )
    worker_line = _on_this_machine(worker_argv, {"--master-host": "127.0.0.1", "--master-port": port}, paths)
    started = [procs(*worker_line, cwd=tmp_path) for _ in range(workers)]
    assert master.wait(90) == 0, master.output
    for worker in started:
        assert worker.wait(30) == 0, worker.output
    report = json.loads((paths["/results"] / "results.json").read_text())
    # a request still waiting for its answer when the users stopped reached the target but is counted
    # as interrupted, not as a request (on a busy machine the 3 s test can end with one in flight)
    measured, interrupted = report["total"]["num_requests"], report["run"].get("interrupted_requests", 0)
    assert 0 < measured <= target.counts()["total"] <= measured + interrupted, (measured, interrupted)
    assert (paths["/results"] / "tswarm_stats.csv").exists()
    assert "Refused" not in master.output and "WARNING" not in master.output, master.output
