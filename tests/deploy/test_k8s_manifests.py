"""The Kubernetes manifests in deploy/k8s/ are valid for the API server and say what the
docs promise: resources, probes, a locked-down pod, the limit profiles, and names that
refer to each other correctly.

Validation is offline: kubernetes-validate ships the Kubernetes OpenAPI schemas; the
ServiceMonitor (a Prometheus Operator CRD it doesn't know) is checked against
deploy/k8s/schemas/servicemonitor.schema.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from engine.limits import Limits, parse_duration
from thaiyyal.probe_listener import READY_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(K8S.rglob("*.yaml"))
# The oldest Kubernetes minor still widely run, and the newest the package knows.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


def load_all() -> list[tuple[Path, dict]]:
    docs = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


DOCS = load_all()


def the(kind: str, name: str | None = None, path: Path | None = None) -> dict:
    found = [doc for p, doc in DOCS if doc["kind"] == kind
             and (name is None or doc["metadata"]["name"] == name)
             and (path is None or p == path)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(workload: dict) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}


def servicemonitor_schema() -> dict:
    return json.loads((K8S / "schemas" / "servicemonitor.schema.json").read_text())


def keda_schema() -> dict:
    return json.loads((K8S / "schemas" / "keda.schema.json").read_text())


def test_every_kind_the_deployment_needs_is_present():
    kinds = {doc["kind"] for _, doc in DOCS}
    assert kinds >= {"Deployment", "Service", "ConfigMap", "Secret", "Job",
                     "HorizontalPodAutoscaler", "ServiceMonitor"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("path", "doc"), DOCS,
                         ids=[f"{p.relative_to(K8S)}:{d['kind']}" for p, d in DOCS])
def test_manifest_is_valid_against_the_kubernetes_schema(path, doc, version):
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        jsonschema.validate(doc, servicemonitor_schema())
        return
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, keda_schema())
        return
    # strict: an unknown (misspelt) field is an error, as `kubectl apply --validate=strict`.
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_misspelt_field_and_a_wrong_type():
    deployment = json.loads(json.dumps(the("Deployment", "thaiyyal")))
    container(deployment)["livenesProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = json.loads(json.dumps(the("Deployment", "thaiyyal")))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_the_servicemonitor_schema_rejects_a_monitor_without_endpoints():
    monitor = json.loads(json.dumps(the("ServiceMonitor", "thaiyyal")))
    del monitor["spec"]["endpoints"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, servicemonitor_schema())


def test_deployment_requests_and_limits_match_the_capacity_docs():
    resources = container(the("Deployment", "thaiyyal"))["resources"]
    assert resources == {"requests": {"cpu": "200m", "memory": "256Mi"},
                         "limits": {"cpu": "1000m", "memory": "1Gi"}}


def test_deployment_probes_the_masters_probe_port():
    c = container(the("Deployment", "thaiyyal"))
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert port_names == {"http": 8080, "probes": 8081}
    # The probe listener (in the gunicorn master) answers whatever the workers are doing;
    # the main port's /healthz waits behind busy workers.
    command = c["command"]
    assert command[command.index("--probe-bind") + 1] == "0.0.0.0:8081"
    liveness, readiness = c["livenessProbe"], c["readinessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert readiness["httpGet"] == {"path": "/readyz", "port": "probes"}
    # The readiness check gives the database 2 s: the probe waits longer than that.
    assert readiness["timeoutSeconds"] > READY_TIMEOUT_SECONDS
    # Readiness reacts faster than liveness restarts: a slow database takes the pod out of
    # the Service without killing it.
    assert readiness["periodSeconds"] <= liveness["periodSeconds"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < \
        liveness["periodSeconds"] * liveness["failureThreshold"]
    # A restart needs several misses in a row, not one slow answer.
    assert liveness["failureThreshold"] >= 3


def test_deployment_serves_on_all_interfaces_port_8080_and_leaves_migrations_to_the_job():
    c = container(the("Deployment", "thaiyyal"))
    assert c["command"] == ["thaiyyal", "serve", "--bind", "0.0.0.0:8080", "--no-migrate",
                            "--probe-bind", "0.0.0.0:8081"]


def test_every_config_sets_the_worker_count_for_a_one_cpu_pod():
    # gunicorn would otherwise count the node's CPUs, not the pod's limit
    cpu_limit = container(the("Deployment", "thaiyyal"))["resources"]["limits"]["cpu"]
    cpus = int(cpu_limit.removesuffix("m")) // 1000
    for path, doc in DOCS:
        if doc["kind"] == "ConfigMap":
            assert doc["data"]["WEB_CONCURRENCY"] == str(2 * cpus + 1), path


def test_pod_runs_non_root_with_a_read_only_root_and_no_capabilities():
    deployment = the("Deployment", "thaiyyal")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = container(deployment)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]


def test_metrics_directory_and_tmp_are_memory_backed_writable_volumes():
    deployment = the("Deployment", "thaiyyal")
    c = container(deployment)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    metrics_dir = env_of(c)["PROMETHEUS_MULTIPROC_DIR"]["value"]
    for path in (metrics_dir, "/tmp"):
        assert path in mounts, f"{path} is not mounted (the root filesystem is read-only)"
        assert volumes[mounts[path]]["emptyDir"]["medium"] == "Memory"
    assert not any(m.get("readOnly") for m in c["volumeMounts"])
    # The app's local state directory (generated secret key, SQLite) lives on a tmpfs too.
    assert env_of(c)["THAIYYAL_VAR_DIR"]["value"].startswith("/tmp/")


def test_configuration_comes_from_the_configmap_and_the_secret():
    config = the("ConfigMap", "thaiyyal-config", K8S / "configmap.yaml")
    secret = the("Secret", "thaiyyal-secrets")
    for workload in (the("Deployment", "thaiyyal"), the("Job", "thaiyyal-migrate")):
        sources = container(workload)["envFrom"]
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in sources
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources
    assert {"SECRET_KEY", "DATABASE_URL", "THAIYYAL_METRICS_TOKEN"} <= set(secret["stringData"])
    assert secret["stringData"]["DATABASE_URL"].startswith("postgres://")
    assert {"THAIYYAL_MAX_EXECUTION_TIME", "THAIYYAL_MAX_NODE_EXECUTIONS"} <= set(config["data"])


def test_allowed_hosts_expands_only_variables_defined_before_it():
    c = container(the("Deployment", "thaiyyal"))
    config = the("ConfigMap", "thaiyyal-config", K8S / "configmap.yaml")
    names = list(env_of(c))
    value = env_of(c)["ALLOWED_HOSTS"]["value"]
    defined = set(config["data"]) | set(names[:names.index("ALLOWED_HOSTS")])
    referenced = set(re.findall(r"\$\(([A-Z_]+)\)", value))
    assert referenced <= defined
    assert "POD_IP" in referenced  # Prometheus scrapes the pod by its IP


def test_migrate_job_runs_migrations_once_with_the_same_image():
    job = the("Job", "thaiyyal-migrate")
    c = container(job)
    assert c["image"] == container(the("Deployment", "thaiyyal"))["image"]
    assert c["command"][:2] == ["django-admin", "migrate"]
    assert env_of(c)["DJANGO_SETTINGS_MODULE"]["value"] == "thaiyyal.settings"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_service_selects_the_deployment_pods_on_the_http_port():
    service = the("Service", "thaiyyal")
    pod_labels = the("Deployment", "thaiyyal")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    # Probes are the kubelet's, pod to pod: the Service does not publish their port.
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_hpa_scales_the_deployment_on_cpu_utilization():
    hpa = the("HorizontalPodAutoscaler", "thaiyyal")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "thaiyyal"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_servicemonitor_scrapes_metrics_with_the_bearer_token_secret():
    monitor = the("ServiceMonitor", "thaiyyal")
    service = the("Service", "thaiyyal")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["type"] == "Bearer"
    assert endpoint["authorization"]["credentials"] == {
        "name": the("Secret", "thaiyyal-secrets")["metadata"]["name"],
        "key": "THAIYYAL_METRICS_TOKEN"}


@pytest.mark.parametrize(("profile", "seconds", "node_executions"), [
    ("strict-api", 30.0, 1000),
    ("batch", 600.0, 50_000),
])
def test_profile_sets_its_documented_limits(profile, seconds, node_executions):
    path = K8S / "profiles" / f"{profile}.yaml"
    config = the("ConfigMap", path=path)
    default = the("ConfigMap", path=K8S / "configmap.yaml")
    # A drop-in replacement for the default ConfigMap: same name, same keys.
    assert config["metadata"]["name"] == default["metadata"]["name"]
    assert set(config["data"]) == set(default["data"])
    data = config["data"]
    assert parse_duration(data["THAIYYAL_MAX_EXECUTION_TIME"]) == seconds
    assert int(data["THAIYYAL_MAX_NODE_EXECUTIONS"]) == node_executions
    # The engine accepts the whole profile.
    Limits(max_execution_time=seconds, max_node_executions=node_executions,
           max_http_calls=int(data["THAIYYAL_MAX_HTTP_CALLS"]),
           max_loop_iterations=int(data["THAIYYAL_MAX_LOOP_ITERATIONS"]))
    assert f"profiles/{profile}.yaml" in (K8S / "README.md").read_text()


def test_dockerfile_runs_the_same_server_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user
    assert not user[-1].startswith(("0", "root"))
    pod_user = the("Deployment", "thaiyyal")["spec"]["template"]["spec"]["securityContext"]
    assert user[-1].split(":")[0] == str(pod_user["runAsUser"])
    (cmd,) = re.findall(r"^CMD\s+(.+)$", text, re.M)
    assert json.loads(cmd) == ["thaiyyal", "serve", "--bind", "0.0.0.0:8080"]
    assert container(the("Deployment", "thaiyyal"))["command"][:4] == json.loads(cmd)
    assert re.search(r"^EXPOSE\s+8080 8081$", text, re.M)
    images = {container(the(kind, name))["image"]
              for kind, name in (("Deployment", "thaiyyal"), ("Job", "thaiyyal-migrate"))}
    assert len(images) == 1


# --- queue mode -----------------------------------------------------------------------


def test_workers_and_the_scheduler_run_the_same_image_and_configuration_as_the_server():
    server = container(the("Deployment", "thaiyyal"))
    for name, command in (("thaiyyal-worker", "worker"), ("thaiyyal-scheduler", "scheduler")):
        c = container(the("Deployment", name))
        assert c["image"] == server["image"]
        assert c["command"][:2] == ["thaiyyal", command]
        assert c["envFrom"] == server["envFrom"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_exactly_one_scheduler_even_during_a_rollout():
    scheduler = the("Deployment", "thaiyyal-scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}


def test_workers_finish_the_longest_run_before_they_are_killed():
    worker = the("Deployment", "thaiyyal-worker")
    batch = the("ConfigMap", "thaiyyal-config", K8S / "profiles" / "batch.yaml")
    longest = parse_duration(batch["data"]["THAIYYAL_MAX_EXECUTION_TIME"])
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= longest


def test_workers_expose_metrics_and_liveness_on_their_metrics_port():
    worker = the("Deployment", "thaiyyal-worker")
    c = container(worker)
    bind = env_of(c)["THAIYYAL_WORKER_METRICS_BIND"]["value"]
    (port,) = c["ports"]
    assert bind == f"0.0.0.0:{port['containerPort']}"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    monitor = the("ServiceMonitor", "thaiyyal-workers")
    service = the("Service", "thaiyyal-worker-metrics")
    assert service["spec"]["selector"].items() <= \
        worker["spec"]["template"]["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert monitor["spec"]["jobLabel"] == "thaiyyal-workers"  # what QueueWorkerDown reads


def test_keda_scales_the_workers_on_the_depth_of_the_run_queue():
    scaled = the("ScaledObject", "thaiyyal-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "thaiyyal-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["queueName"] == "thaiyyal"  # THAIYYAL_QUEUE's default
    auth = the("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["key"] == "THAIYYAL_BROKER_URL"
    assert ref["key"] in the("Secret", "thaiyyal-secrets")["stringData"]
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]


def test_the_keda_schema_rejects_a_scaledobject_without_triggers():
    scaled = json.loads(json.dumps(the("ScaledObject", "thaiyyal-worker")))
    del scaled["spec"]["triggers"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, keda_schema())
