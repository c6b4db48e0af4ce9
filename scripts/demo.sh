#!/usr/bin/env bash
# The first thing to run on a fresh Debian machine, as root: installs what is missing and
# builds orca (scripts/setup.sh), imports the busybox-based images busybox:1.36 and
# nginx:1.27 into /var/lib/orca, starts `orca server` in the background (or reuses the one
# that runs), runs examples/01-two-containers.yaml and prints the page one container serves
# from what the other wrote. Run it again and it deletes and re-creates the pod.
#
#   ./scripts/demo.sh            (ORCA_DATA_DIR, ORCA_LISTEN override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${ORCA_DATA_DIR:-/var/lib/orca}
LISTEN=${ORCA_LISTEN:-127.0.0.1:6443}
ORCA=$ROOT/target/release/orca
POD=two-containers
MANIFEST=$ROOT/examples/01-two-containers.yaml

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: orca runs containers"

say "Installing what is missing and building orca (scripts/setup.sh)"
./scripts/setup.sh
if ! command -v curl >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
mkdir -p "$DATA"

say "Building busybox:1.36 and nginx:1.27 from /bin/busybox and importing them into $DATA"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/etc" "$work/root/tmp" "$work/nginx/usr/share/nginx/html"
cp /bin/busybox "$work/root/bin/"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  > "$work/root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/root/etc/group"
chmod 1777 "$work/root/tmp"
echo Welcome > "$work/nginx/usr/share/nginx/html/index.html"
tar -cf "$work/busybox.tar" -C "$work/root" .
tar -cf "$work/nginx.tar" -C "$work/root" . -C "$work/nginx" .
"$ORCA" image --data-dir "$DATA" import "$work/busybox.tar" busybox:1.36 -- sh 2>/dev/null
"$ORCA" image --data-dir "$DATA" import "$work/nginx.tar" nginx:1.27 \
  -- httpd -f -p 80 -h /usr/share/nginx/html 2>/dev/null

# The API, with the admin token and CA the server generated at its first start.
url() { echo "https://$LISTEN"; }
api() { # METHOD PATH [curl args...]
  local method=$1 path=$2; shift 2
  curl -sS --cacert "$DATA/tls/ca.crt" -H "Authorization: Bearer $(cat "$DATA/tls/admin.token")" \
    -X "$method" "$(url)$path" "$@"
}
ready() { [ -f "$DATA/tls/admin.token" ] && api GET /readyz -f -o /dev/null 2>/dev/null; }
json() { # EXPR: evaluate a Python expression over the JSON document `d` read from stdin
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

if ready; then
  say "Reusing the orca server that serves $(url)"
else
  say "Starting orca server (log: $DATA/server.log)"
  setsid "$ORCA" server --data-dir "$DATA" --listen "$LISTEN" >>"$DATA/server.log" 2>&1 </dev/null &
  echo $! > "$DATA/server.pid"
  for _ in $(seq 1 300); do
    ready && break
    kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null || die "orca server exited: see $DATA/server.log"
    sleep 0.1
  done
  ready || die "orca server did not become ready: see $DATA/server.log"
fi

say "Waiting for the node to be Ready"
node=""
for _ in $(seq 1 300); do
  node=$(api GET /api/v1/nodes | json "next((n['metadata']['name'] for n in d.get('items', []) \
    if any(c['type'] == 'Ready' and c['status'] == 'True' for c in n.get('status', {}).get('conditions', []))), '')" \
    || true)
  [ -n "$node" ] && break
  sleep 0.1
done
[ -n "$node" ] || die "no node became Ready: see $DATA/server.log"
echo "node $node is Ready"

pods=/api/v1/namespaces/default/pods
if [ "$(api GET "$pods/$POD" -o /dev/null -w '%{http_code}')" = 200 ]; then
  say "Deleting the pod $POD of an earlier run"
  api DELETE "$pods/$POD?gracePeriodSeconds=1" -o /dev/null
  for _ in $(seq 1 300); do
    [ "$(api GET "$pods/$POD" -o /dev/null -w '%{http_code}')" = 404 ] && break
    sleep 0.1
  done
fi

say "Creating the pod from $MANIFEST"
api POST "$pods" -H 'Content-Type: application/yaml' --data-binary "@$MANIFEST" -f -o /dev/null
bound=""
for _ in $(seq 1 50); do
  bound=$(api GET "$pods/$POD" | json "d.get('spec', {}).get('nodeName', '')" || true)
  [ -n "$bound" ] && break
  sleep 0.1
done
if [ -z "$bound" ]; then
  echo "no scheduler bound it within 5 s: binding it to $node"
  api POST "$pods/$POD/binding" -H 'Content-Type: application/json' -f -o /dev/null --data-binary \
    "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$POD\"},\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"$node\"}}"
fi

say "Waiting for the pod to run"
ip=""
for _ in $(seq 1 600); do
  state=$(api GET "$pods/$POD" | json "'%s %s %s' % (d.get('status', {}).get('phase', ''), \
    d.get('status', {}).get('podIP', '-'), ','.join(sorted(c['name'] for c in d.get('status', {}).get('containerStatuses', []) \
    if 'terminated' in c.get('state', {}) and c['state']['terminated'].get('exitCode') == 0)) or '-')" \
    || echo "- - -")
  read -r phase ip completed <<<"$state"
  [ "$phase" = Running ] && [ "$ip" != - ] && [[ $completed == *debian-container* ]] && break
  case $phase in Failed|Succeeded) die "the pod ended $phase: see $DATA/server.log";; esac
  sleep 0.1
done
[ "$phase" = Running ] || die "the pod is $phase, not Running: see $DATA/server.log"
echo "pod $POD is Running on $node with IP $ip"

say "GET http://$ip/"
for _ in $(seq 1 50); do
  page=$(curl -sf "http://$ip/" 2>/dev/null) && break
  sleep 0.1
done
[ -n "${page:-}" ] || die "http://$ip/ did not answer"
echo "$page"
echo
echo "Next: export KUBECONFIG=$DATA/kubeconfig.yaml; kubectl get pods -o wide; kubectl logs $POD -c debian-container"
