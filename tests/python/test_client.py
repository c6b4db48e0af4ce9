"""The Python `kubernetes` client against a running orca server.

Usage: python test_client.py KUBECONFIG
Exits non-zero on the first failed check; prints one line per check.
"""
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    names = [n.metadata.name for n in v1.list_namespace().items]
    check("list namespaces", {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names), names)

    # A watch stream, started before the writes it must see.
    events = []
    w = watch.Watch()

    def watcher():
        for ev in w.stream(v1.list_namespaced_pod, namespace="default", timeout_seconds=20):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    time.sleep(0.5)

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[client.V1Container(name="c", image="busybox:1.36", command=["true"])],
        ),
    )
    created = v1.create_namespaced_pod("default", pod)
    check("create pod", created.metadata.uid and created.status.phase == "Pending")
    check("defaults applied", created.spec.containers[0].image_pull_policy == "IfNotPresent")

    try:
        v1.create_namespaced_pod("default", pod)
        check("duplicate create is 409", False)
    except ApiException as e:
        check("duplicate create is 409", e.status == 409, e.status)

    listed = v1.list_namespaced_pod("default", label_selector="app=py")
    check("list with selector", [p.metadata.name for p in listed.items] == ["py-pod"])

    patched = v1.patch_namespaced_pod("py-pod", "default", {"metadata": {"labels": {"extra": "yes"}}})
    check("patch pod", patched.metadata.labels.get("extra") == "yes", patched.metadata.labels)

    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm"), data={"k": "v"})
    v1.create_namespaced_config_map("default", cm)
    check("read configmap", v1.read_namespaced_config_map("py-cm", "default").data == {"k": "v"})
    v1.delete_namespaced_config_map("py-cm", "default")

    v1.delete_namespaced_pod("py-pod", "default")
    try:
        v1.read_namespaced_pod("py-pod", "default")
        check("deleted pod is gone", False)
    except ApiException as e:
        check("deleted pod is gone", e.status == 404, e.status)

    t.join(timeout=15)
    kinds = [k for k, n in events if n == "py-pod"]
    check("watch saw added, modified, deleted", kinds[:1] == ["ADDED"] and "MODIFIED" in kinds and kinds[-1:] == ["DELETED"], events)

    apps = client.AppsV1Api()
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py-deploy"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}},
    }
    d = apps.create_namespaced_deployment("default", dep)
    check("deployment defaults", d.spec.replicas == 1 and d.spec.strategy.type == "RollingUpdate")
    apps.delete_namespaced_deployment("py-deploy", "default")
    print("python client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
