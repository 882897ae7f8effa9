"""The deployment files agree with the service: several replicas behind one proxy port, sharing one
PostgreSQL, and a proxy that lets through every body the service accepts. (No Docker engine runs in CI:
these are read, not run; README says how the proxy was tried.) The compose file is also validated against
the Compose Specification's JSON schema, as check-jsonschema ships it. The Kubernetes manifests are checked
in tests/test_kubernetes.py."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cds.settings import Settings

ROOT = Path(__file__).parent.parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_replicas_share_one_database_behind_one_port() -> None:
    services = compose()["services"]
    cds = services["cds"]
    assert cds["deploy"]["replicas"] == "${REPLICAS:-2}"
    assert "ports" not in cds  # replicas cannot share a host port: the proxy has it
    assert services["proxy"]["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]
    assert cds["environment"]["CDS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in cds["environment"]["CDS_DATABASE_URL"]
    assert cds["environment"]["CDS_AUTH"] == "required"


def test_the_proxy_passes_every_body_the_service_accepts() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"server cds:8000;", conf)
    size = re.search(r"client_max_body_size (\d+)m;", conf)
    assert size is not None
    assert int(size.group(1)) * 1024 * 1024 > Settings(database_url="sqlite://").max_body_bytes
    assert compose()["services"]["proxy"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]


def compose_schema_errors(path: Path) -> str:
    """check-jsonschema's report on a compose file against the Compose Specification's schema (bundled with
    it, so nothing is fetched); empty when the file is valid."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert compose_schema_errors(ROOT / "docker-compose.yml") == ""


def test_a_compose_file_with_a_misspelt_key_fails_the_schema(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text()
    broken.write_text(text.replace("    depends_on:", "    depend_on:", 1))
    errors = compose_schema_errors(broken)
    assert "'depend_on' was unexpected" in errors
