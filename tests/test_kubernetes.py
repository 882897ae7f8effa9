"""The Kubernetes manifests (deploy/kubernetes) render, validate and agree with the service.

No cluster runs here: each overlay is rendered with kubectl's built-in kustomize (`kubectl kustomize`, which
needs no cluster) and every manifest is validated offline against the Kubernetes schemas bundled with
kubernetes-validate, in strict mode (a misspelt field is an error), for the oldest and the newest
Kubernetes versions it knows. Then the project's own rules: probes on /healthz, nobody runs as root, every
setting set or documented, secrets only referenced, the image tag the package version, and the service
starting with each overlay's configuration.

kubectl is found on PATH (KUBECTL names another); `.ci/run` installs Debian's `kubernetes-client` where it
is missing. Debian's kubectl 1.20 embeds kustomize 2.0.3, which takes a base directory only under `bases:`;
for it alone the overlays are rendered from a copy where `resources:` directories are moved to `bases:`
(newer kubectl warns about `bases:`, so the manifests use `resources:`).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench.load import free_port
from cds.clients import load_clients
from cds.main import create_app
from cds.settings import Settings

ROOT = Path(__file__).parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (MANIFESTS / "overlays").iterdir() if path.is_dir())
DOCS = ROOT / "docs" / "deploying-at-scale.md"
# The oldest Kubernetes the schemas cover, and the newest.
VERSIONS = ("1.25", kubernetes_validate.latest_version())
# Read by `tacrolimus-cds serve` (cds/cli.py), not by the settings class.
SERVE_ENV = {"WORKERS"}
# Settings announced by issue 14 (the site file, the repeat hold's HMAC key) that cds/settings.py does not
# read yet: set here so the manifests need no change when it does.
ANNOUNCED = {"CDS_SITE_FILE", "CDS_HMAC_KEY"}
# Settings whose values are secrets: taken from a Secret, never written in a manifest.
SECRETS = {"CDS_DATABASE_URL", "CDS_HMAC_KEY"}
HEALTHZ_ANSWERS_WITHIN = 1.0  # seconds: /healthz answers by then, 503 when the database is out (issue 15)
AUDIT_FLUSH_ALLOWANCE = 10  # seconds the last audit batch may take at shutdown


# --- rendering and validation ---------------------------------------------------------------------------


def kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        pytest.skip(
            "kubectl not found, so the Kubernetes manifests were not rendered: install it (Debian: apt-get"
            " install kubernetes-client; .ci/run does so as root) or name it in KUBECTL"
        )
    return found


def legacy_kustomize(binary: str) -> bool:
    """kubectl before 1.21 embeds kustomize 2.0.3, which reads a base directory only from `bases:`."""
    shown = subprocess.run(  # noqa: S603
        [binary, "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
    )
    version = json.loads(shown.stdout)
    if "kustomizeVersion" in version:
        return False
    return int(re.sub(r"\D", "", version["clientVersion"]["minor"])) < 21


def for_legacy_kustomize(tree: Path) -> None:
    for path in tree.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        directories = [r for r in kustomization.get("resources", []) if (path.parent / r).is_dir()]
        if directories:
            kustomization["resources"] = [r for r in kustomization["resources"] if r not in directories]
            kustomization["bases"] = directories
            path.write_text(yaml.safe_dump(kustomization))


def render(tree: Path, overlay: str, scratch: Path) -> list[dict[str, Any]]:
    """The manifests of one overlay, as `kubectl kustomize` renders them; fails with kustomize's message."""
    binary = kubectl()
    if legacy_kustomize(binary):
        copy = scratch / "legacy"
        shutil.copytree(tree, copy)
        for_legacy_kustomize(copy)
        tree = copy
    result = subprocess.run(  # noqa: S603
        [binary, "kustomize", str(tree / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def schema_errors(documents: list[dict[str, Any]]) -> list[str]:
    """What the Kubernetes schemas refuse in these manifests, one line each; a kind without a schema too."""
    errors = []
    for document in documents:
        name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.path)
                errors.append(f"{name} (Kubernetes {version}) at {where or 'the top'}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                errors.append(f"{name}: {error.message}")
    return errors


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    with tempfile.TemporaryDirectory() as scratch:
        return tuple(render(MANIFESTS, overlay, Path(scratch)))


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [document for document in rendered(overlay) if document["kind"] == kind]


def deployment(overlay: str) -> dict[str, Any]:
    (found,) = of_kind(overlay, "Deployment")
    return found


def pod(overlay: str) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(overlay)["spec"]["template"]["spec"]
    return spec


def containers(overlay: str) -> list[dict[str, Any]]:
    spec = pod(overlay)
    found: list[dict[str, Any]] = spec["containers"] + spec.get("initContainers", [])
    return found


def config_map(overlay: str, name: str) -> dict[str, Any]:
    (found,) = [c for c in of_kind(overlay, "ConfigMap") if c["metadata"]["name"] == name]
    return found


def environment(overlay: str) -> dict[str, dict[str, Any]]:
    """Every variable the service container gets, by name: {"value": ...} or {"valueFrom": ...}, with the
    variables of its envFrom ConfigMaps resolved."""
    (container,) = pod(overlay)["containers"]
    variables: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        data = config_map(overlay, source["configMapRef"]["name"]).get("data", {})
        variables.update({name: {"value": value} for name, value in data.items()})
    for variable in container.get("env", []):
        variables[variable["name"]] = {k: v for k, v in variable.items() if k != "name"}
    return variables


def setting_names() -> set[str]:
    """The environment variables the settings class reads (pydantic-settings: prefix + field name)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def documented_optional() -> set[str]:
    """The settings docs/deploying-at-scale.md lists under "Optional settings": left at their defaults."""
    text = DOCS.read_text()
    section = re.search(r"^#+ Optional settings\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert section, f"{DOCS.relative_to(ROOT)} has no 'Optional settings' section"
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", section.group(1), re.M))


def package_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


# --- the checks ------------------------------------------------------------------------------------------


def test_both_overlays_are_there() -> None:
    assert OVERLAYS == ["production", "small"]
    assert (MANIFESTS / "base" / "kustomization.yaml").is_file()


def test_every_manifest_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    documents = list(rendered(overlay))
    assert {"ConfigMap", "Deployment", "NetworkPolicy", "Service"} <= {d["kind"] for d in documents}
    assert schema_errors(documents) == []


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    copy = tmp_path / "kubernetes"
    shutil.copytree(MANIFESTS, copy)
    text = (copy / file).read_text()
    assert old in text
    (copy / file).write_text(text.replace(old, new, 1))
    return copy


def test_a_misspelt_field_fails_validation(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "base/deployment.yaml", "readinessProbe:", "readinesProbe:")
    errors = schema_errors(render(copy, "production", tmp_path))
    assert errors
    assert all(error.startswith("Deployment/tacrolimus-cds") for error in errors)
    assert "readinesProbe" in errors[0]
    assert len(errors) == len(VERSIONS)  # one error, found against each version


def test_a_value_of_the_wrong_type_fails_validation(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "overlays/production/hpa.yaml", "minReplicas: 3", "minReplicas: three")
    errors = schema_errors(render(copy, "production", tmp_path))
    assert errors
    assert all("HorizontalPodAutoscaler/tacrolimus-cds" in error for error in errors)
    assert "spec.minReplicas" in errors[0]


def test_a_kind_without_a_schema_fails_validation() -> None:
    errors = schema_errors([{"apiVersion": "v1", "kind": "Deploymnet", "metadata": {"name": "x"}}])
    assert len(errors) == len(VERSIONS)
    assert "Deploymnet" in errors[0]


def test_a_missing_file_fails_rendering(tmp_path: Path) -> None:
    kustomization = "overlays/small/kustomization.yaml"
    copy = broken_copy(tmp_path, kustomization, "- networkpolicy-site.yaml", "- gone.yaml")
    with pytest.raises(pytest.fail.Exception, match="kubectl kustomize small failed"):
        render(copy, "small", tmp_path)


def test_probes_ask_healthz_and_wait_longer_than_it_takes(overlay: str) -> None:
    (container,) = pod(overlay)["containers"]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[kind]
        assert probe["httpGet"] == {"path": "/healthz", "port": "http"}, kind
        # a probe that gives up before /healthz answers would count a 503 as a timeout, and a slow answer
        # as a failure
        assert probe["timeoutSeconds"] > HEALTHZ_ANSWERS_WITHIN, kind
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    liveness = container["livenessProbe"]
    # a database outage fails /healthz: restarting the pods would not help, so liveness waits a minute
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= 10  # out of the Service quickly
    assert "initialDelaySeconds" not in liveness  # the startup probe holds liveness back instead


def test_no_container_runs_as_root(overlay: str) -> None:
    spec = pod(overlay)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["runAsGroup"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in containers(overlay):
        context = container["securityContext"]
        assert context.get("runAsUser", spec["securityContext"]["runAsUser"]) > 0
        assert context.get("runAsNonRoot", True) is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "privileged" not in context


def test_the_dockerfile_user_is_the_manifests_user() -> None:
    """Kubernetes can check runAsNonRoot only against a numeric user; the image runs as the same one."""
    users = re.findall(r"^USER (\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    context = pod("production")["securityContext"]
    assert users == [f"{context['runAsUser']}:{context['runAsGroup']}"]


def test_the_only_writable_place_is_a_temporary_volume(overlay: str) -> None:
    spec = pod(overlay)
    (container,) = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    writable = [mount for mount in container["volumeMounts"] if not mount.get("readOnly")]
    assert [mount["mountPath"] for mount in writable] == ["/tmp"]  # noqa: S108
    assert "emptyDir" in volumes[writable[0]["name"]]
    assert volumes[writable[0]["name"]]["emptyDir"]["sizeLimit"]


def test_every_setting_is_set_or_documented_as_optional(overlay: str) -> None:
    variables = environment(overlay)
    optional = documented_optional()
    unexplained = setting_names() - set(variables) - optional
    assert not unexplained, (
        f"settings neither set by the {overlay} manifests nor documented as optional: {sorted(unexplained)}."
        " Set each in deploy/kubernetes (base/kustomization.yaml's settings, or a Secret reference in"
        " base/deployment.yaml) or list it with its default under 'Optional settings' in"
        f" {DOCS.relative_to(ROOT)}"
    )
    assert not set(variables) & optional, "a setting both set and documented as left at its default"


def test_nothing_is_set_or_documented_that_the_service_does_not_read(overlay: str) -> None:
    """A misspelt variable would be ignored silently (the settings class ignores unknown names)."""
    known = setting_names() | SERVE_ENV | ANNOUNCED
    assert set(environment(overlay)) - known == set()
    assert documented_optional() - known == set()


def test_secrets_are_referenced_never_written(overlay: str) -> None:
    variables = environment(overlay)
    secret_settings = SECRETS | {
        (str(Settings.model_config.get("env_prefix", "")) + name).upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }
    optional = documented_optional()
    for name in secret_settings:
        if name in optional and name not in variables:
            continue  # an optional secret (the SMART app's client secret): added with a secretKeyRef
        assert set(variables[name]) == {"valueFrom"}, name
        assert set(variables[name]["valueFrom"]) == {"secretKeyRef"}, name
        assert variables[name]["valueFrom"]["secretKeyRef"].get("optional") is not True, name
    assert of_kind(overlay, "Secret") == []
    for path in MANIFESTS.rglob("kustomization.yaml"):
        assert "secretGenerator" not in yaml.safe_load(path.read_text()), path


def test_the_image_tag_is_the_package_version(overlay: str) -> None:
    for container in containers(overlay):
        image = container["image"]
        assert "@" not in image
        assert image.rsplit(":", 1)[1] == package_version(), image


def test_one_worker_per_pod_on_one_cpu(overlay: str) -> None:
    """docs/deploying-at-scale.md: a pod is one worker; Kubernetes runs more pods, not more workers."""
    (container,) = pod(overlay)["containers"]
    assert environment(overlay)["WORKERS"] == {"value": "1"}
    assert container["resources"]["requests"]["cpu"] == "1"
    assert container["resources"]["limits"]["cpu"] == "1"


def test_the_docs_give_the_resources_the_manifests_set() -> None:
    docs = DOCS.read_text()
    (container,) = pod("production")["containers"]
    for kind in ("requests", "limits"):
        for resource, amount in container["resources"][kind].items():
            assert f"{resource} {kind[:-1]} {amount}" in docs, f"{resource} {kind[:-1]} {amount}"


def test_termination_leaves_time_to_finish_calls_and_flush_the_audit(overlay: str) -> None:
    spec = pod(overlay)
    (container,) = spec["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    longest_call = Settings(database_url="sqlite://").fhir_deadline + 1  # FHIR calls, then evaluation
    needed = int(command[1]) + longest_call + AUDIT_FLUSH_ALLOWANCE
    assert spec["terminationGracePeriodSeconds"] >= needed


def test_the_service_selects_the_pods_by_port_name(overlay: str) -> None:
    labels = deployment(overlay)["spec"]["template"]["metadata"]["labels"]
    assert deployment(overlay)["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service,) = of_kind(overlay, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["type"] == "ClusterIP"
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


def test_production_scales_on_cpu_and_keeps_pods_through_drains() -> None:
    target = deployment("production")
    labels = target["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in target["spec"]  # the autoscaler sets the count; apply must not reset it
    (autoscaler,) = of_kind("production", "HorizontalPodAutoscaler")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": target["metadata"]["name"],
    }
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert autoscaler["spec"]["minReplicas"] >= 2
    (budget,) = of_kind("production", "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < autoscaler["spec"]["minReplicas"]
    assert target["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (namespace,) = of_kind("production", "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace") for d in rendered("production") if d["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]
    }


def test_small_is_one_pod_without_autoscaler() -> None:
    assert "replicas" not in deployment("small")["spec"]  # Kubernetes' default: one
    assert of_kind("small", "HorizontalPodAutoscaler") == []
    assert of_kind("small", "PodDisruptionBudget") == []  # with one pod, a budget would block every drain


def network_rules(overlay: str, direction: str) -> Iterator[dict[str, Any]]:
    labels = deployment(overlay)["spec"]["template"]["metadata"]["labels"]
    for policy in of_kind(overlay, "NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        yield from policy["spec"].get(direction, [])


def test_network_policy_lets_in_the_gateway_and_out_only_dns_postgres_and_https(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    assert any(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in policies)
    for rule in network_rules(overlay, "ingress"):
        assert rule["from"], "an ingress rule without sources lets everyone in"
        assert all("ipBlock" not in peer for peer in rule["from"])
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    allowed_ports = set()
    for rule in network_rules(overlay, "egress"):
        assert rule.get("to"), "an egress rule without destinations lets the pods reach anything"
        for peer in rule["to"]:
            assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0")
        allowed_ports |= {(port["port"], port["protocol"]) for port in rule["ports"]}
    assert allowed_ports == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (443, "TCP")}


def mounted_files(overlay: str, into: Path) -> dict[str, Path]:
    """Writes the ConfigMap files the pod mounts under `into`, as the pod would see them; returns the local
    directory of each mount path."""
    spec = pod(overlay)
    (container,) = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    moved = {}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source is None:
            continue
        directory = into / mount["mountPath"].strip("/")
        directory.mkdir(parents=True)
        for key, content in config_map(overlay, source["name"])["data"].items():
            (directory / key).write_text(content)
        moved[mount["mountPath"]] = directory
    return moved


def local(path: str, moved: dict[str, Path]) -> str:
    """Where a path inside the pod is in the files `mounted_files` wrote (the path itself when unmounted)."""
    for mount_path, directory in moved.items():
        if path.startswith(mount_path + "/"):
            return str(directory / path[len(mount_path) + 1 :])
    return path


def test_the_clients_and_site_files_are_mounted_where_the_settings_say(overlay: str, tmp_path: Path) -> None:
    moved = mounted_files(overlay, tmp_path)
    variables = environment(overlay)
    clients = Path(local(variables["CDS_CLIENTS_FILE"]["value"], moved))
    site = Path(local(variables["CDS_SITE_FILE"]["value"], moved))
    assert clients.is_relative_to(tmp_path), "CDS_CLIENTS_FILE is not in a mounted ConfigMap"
    assert site.is_relative_to(tmp_path), "CDS_SITE_FILE is not in a mounted ConfigMap"
    assert load_clients(clients)  # the service's own reader accepts the file
    assert isinstance(yaml.safe_load(site.read_text()), dict)


def test_the_service_starts_with_each_overlays_configuration(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings, clients file and site file of the overlay, with stand-ins for its secrets: the app is
    assembled (which checks the configuration and the knowledge) and /healthz answers."""
    moved = mounted_files(overlay, tmp_path / "mounted")
    for name in list(os.environ):
        if name.upper().startswith("CDS_"):
            monkeypatch.delenv(name)
    stand_ins = {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'cds.db'}", "CDS_HMAC_KEY": "test-only-key"}
    for name, variable in environment(overlay).items():
        value = stand_ins[name] if "valueFrom" in variable else local(variable["value"], moved)
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.auth == "required"
    assert settings.public_base_url is not None
    assert settings.public_base_url.startswith("https://")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/cds-services").status_code == 401  # a token from a registered client needed


def child_of(parent: int) -> int | None:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{parent}\n" in status.read_text():
                return int(status.parent.name)
        except OSError:
            continue
    return None


def test_the_service_runs_as_the_pods_user_on_a_read_only_root_filesystem(tmp_path: Path) -> None:
    """The pod's restrictions, reproduced with bubblewrap: the root filesystem read-only, the pod's user,
    a fresh empty /tmp as the only writable place (the emptyDir), the overlay's settings and files. The
    service starts, answers /healthz, and on SIGTERM shuts down cleanly."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap (bwrap) not found: install it (Debian: bubblewrap; .ci/run does so as root)")
    if subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-user", "true"], check=False).returncode:  # noqa: S603
        pytest.skip("bubblewrap cannot create a user namespace here")
    spec = pod("production")
    moved = mounted_files("production", tmp_path / "mounted")
    inside = {mount_path: Path("/mnt", mount_path.strip("/")) for mount_path in moved}
    environ = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}  # as the Dockerfile sets it
    stand_ins = {"CDS_DATABASE_URL": "sqlite:////tmp/cds.db", "CDS_HMAC_KEY": "test-only-key"}
    for name, variable in environment("production").items():
        environ[name] = stand_ins[name] if "valueFrom" in variable else local(variable["value"], inside)
    port = free_port()
    log = tmp_path / "log"
    user = spec["securityContext"]
    sandbox = [
        *(bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"),  # noqa: S108
        *("--ro-bind", str(tmp_path / "mounted"), "/mnt", "--chdir", "/", "--unshare-user"),
        *("--uid", str(user["runAsUser"]), "--gid", str(user["runAsGroup"])),
    ]
    for needed in {ROOT, Path(sys.prefix), Path(sys.base_prefix)}:  # the code, when the clone is in /tmp
        if needed.resolve().is_relative_to("/tmp"):  # noqa: S108
            sandbox += ["--ro-bind", str(needed), str(needed)]
    serve = [sys.executable, "-m", "cds.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        server = subprocess.Popen([*sandbox, *serve], env=environ, stdout=output, stderr=output)  # noqa: S603
    try:
        status = None
        for _ in range(150):
            if server.poll() is not None:
                break
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200, log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/cds-services").status_code == 401
        service = child_of(server.pid)
        assert service is not None
        os.kill(service, signal.SIGTERM)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "Read-only file system" not in text
    assert "Permission denied" not in text
