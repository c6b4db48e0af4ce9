#!/usr/bin/env python3
"""Regenerates crates/api/src/protobuf/schema.json, the message table the protobuf request
decoder (crates/api/src/protobuf) runs on.

The table comes from the `generated.proto` files of k8s.io/api and k8s.io/apimachinery
(message and field numbers, wire types, repeated/map) joined with the Go struct tags of the
same packages (JSON name, `,inline`, `omitempty`, pointer-ness): the proto field name is not
always the JSON name, and inline structs are messages on the wire but merged into the parent
in JSON.

Run it only when moving to a newer Kubernetes release:

    scripts/gen-proto-schema.py API_SRC APIMACHINERY_SRC [--ref v0.33.9] [-o OUT]

API_SRC and APIMACHINERY_SRC are checkouts of github.com/kubernetes/api and
github.com/kubernetes/apimachinery, or bare git directories of them (then the files are read at
--ref, default v0.33.9). OUT defaults to crates/api/src/protobuf/schema.json. The output holds
only names, numbers and types; no upstream text is copied.
"""

import argparse
import json
import os
import re
import subprocess
import sys

API_PACKAGES = [
    "core/v1",
    "apps/v1",
    "batch/v1",
    "coordination/v1",
    "policy/v1",
    "autoscaling/v1",
    "authentication/v1",
    "authorization/v1",
]
APIMACHINERY_PACKAGES = [
    "pkg/apis/meta/v1",
    "pkg/runtime",
    "pkg/runtime/schema",
    "pkg/api/resource",
    "pkg/util/intstr",
]
SCALARS = {"string", "bool", "int32", "int64", "bytes"}


class Source:
    """A checkout or a bare git directory, read at one ref."""

    def __init__(self, path, ref):
        self.path = path
        self.ref = ref
        self.bare = os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(
            os.path.join(path, "objects")
        )

    def _git(self, *args):
        out = subprocess.run(
            ["git", "--git-dir", self.path, *args], capture_output=True, text=True
        )
        if out.returncode != 0:
            sys.exit(f"git {' '.join(args)} in {self.path}: {out.stderr.strip()}")
        return out.stdout

    def read(self, rel):
        if self.bare:
            return self._git("show", f"{self.ref}:{rel}")
        with open(os.path.join(self.path, rel), encoding="utf-8") as f:
            return f.read()

    def list_dir(self, rel):
        if self.bare:
            out = self._git("ls-tree", "--name-only", self.ref, rel.rstrip("/") + "/")
            return [os.path.basename(p) for p in out.split()]
        return sorted(os.listdir(os.path.join(self.path, rel)))


FIELD_RE = re.compile(
    r"^(optional|repeated|required)\s+([.\w]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;$"
)
MAP_RE = re.compile(r"^map<\s*(\w+)\s*,\s*([.\w]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;$")


def parse_proto(text):
    """Returns (package, {full message name: message}) for one generated.proto.

    A message is {"fields": [...], "nullable": bool}; a field is a dict with number, proto
    name, type (scalar name or reference as written), label and map key type."""
    package = None
    messages = {}
    stack = []  # names of the open messages
    comments = []
    text = re.sub(r"^\s*/\*.*?\*/", "", text, flags=re.S | re.M)
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comments.append(line)
            continue
        line = re.sub(r"//.*$", "", line).strip()
        if not line:
            continue
        if re.match(r"^(syntax|import|option)\b", line):
            comments = []
            continue
        m = re.match(r"^package\s+([\w.]+)\s*;$", line)
        if m:
            package = m.group(1)
            continue
        m = re.match(r"^message\s+(\w+)\s*\{$", line)
        if m:
            stack.append(m.group(1))
            name = f"{package}.{'.'.join(stack)}"
            nullable = any("+protobuf.nullable=true" in c for c in comments)
            messages[name] = {"fields": [], "nullable": nullable}
            comments = []
            continue
        if line == "}":
            stack.pop()
            comments = []
            continue
        if re.match(r"^(enum|oneof|extend|service)\b", line):
            sys.exit(f"unsupported proto construct: {line}")
        current = f"{package}.{'.'.join(stack)}"
        m = FIELD_RE.match(line)
        if m:
            label, typ, name, number = m.group(1), m.group(2), m.group(3), int(m.group(4))
            messages[current]["fields"].append(
                {"number": number, "proto": name, "type": typ, "label": label, "key": None}
            )
            comments = []
            continue
        m = MAP_RE.match(line)
        if m:
            key, typ, name, number = m.group(1), m.group(2), m.group(3), int(m.group(4))
            messages[current]["fields"].append(
                {"number": number, "proto": name, "type": typ, "label": "map", "key": key}
            )
            comments = []
            continue
        sys.exit(f"cannot parse proto line: {line}")
    if stack:
        sys.exit(f"unbalanced braces in package {package}")
    return package, messages


def resolve(typ, scope, known):
    """The full name of a referenced message, or the scalar type name."""
    if typ in SCALARS:
        return typ
    if typ.startswith("."):
        return typ[1:]
    parts = scope.split(".")
    while parts:
        candidate = ".".join(parts + [typ])
        if candidate in known:
            return candidate
        parts.pop()
    sys.exit(f"unresolved type {typ} in {scope}")


def parse_go_tags(text):
    """{(struct, proto number): Go field facts} for every struct field with a protobuf tag."""
    out = {}
    struct = None
    for line in text.splitlines():
        m = re.match(r"^type\s+(\w+)\s+struct\s*\{", line)
        if m:
            struct = m.group(1)
            continue
        if line.startswith("}"):
            struct = None
            continue
        if struct is None or "protobuf:\"" not in line:
            continue
        m = re.match(r"^\s*([^`]*)`([^`]*)`", line)
        if not m:
            continue
        decl = m.group(1).split()
        tags = dict(re.findall(r'(\w+):"([^"]*)"', m.group(2)))
        pb = tags["protobuf"].split(",")
        if pb == ["-"]:
            continue
        number = int(pb[1])
        gotype = decl[-1] if decl else ""
        js = tags.get("json")
        json_name, opts = None, []
        if js is not None:
            json_name, *opts = js.split(",")
        out[(struct, number)] = {
            "json": json_name,
            "omitempty": "omitempty" in opts,
            "inline": "inline" in opts,
            "pointer": gotype.startswith("*"),
        }
    return out


def load_package(src, directory):
    package, messages = parse_proto(src.read(f"{directory}/generated.proto"))
    tags = {}
    group = None
    for name in src.list_dir(directory):
        if not name.endswith(".go") or name.endswith("_test.go"):
            continue
        if name.startswith(("zz_generated", "generated")):
            continue
        text = src.read(f"{directory}/{name}")
        tags.update(parse_go_tags(text))
        m = re.search(r'^const\s+GroupName\s*=\s*"([^"]*)"', text, re.M)
        if m:
            group = m.group(1)
    version = directory.rsplit("/", 1)[-1]
    return package, messages, tags, group, version


def build(sources):
    messages = {}
    tags_by_message = {}
    groups = {}
    for src, directories in sources:
        for directory in directories:
            package, msgs, tags, group, version = load_package(src, directory)
            messages.update(msgs)
            for full in msgs:
                short = full[len(package) + 1 :]
                tags_by_message[full] = {
                    number: facts for (s, number), facts in tags.items() if s == short
                }
            if group is not None:
                groups[f"{group}/{version}" if group else version] = package

    table = {}
    lists = []
    for full, msg in sorted(messages.items()):
        tags = tags_by_message[full]
        fields = []
        for f in msg["fields"]:
            typ = resolve(f["type"], full, messages)
            facts = tags.get(f["number"])
            if facts is None and tags:
                print(f"warning: {full}.{f['proto']} has no Go struct tag", file=sys.stderr)
            flags = ""
            name = f["proto"]
            if f["label"] == "repeated":
                flags += "r"
            if f["label"] == "map":
                if f["key"] != "string":
                    sys.exit(f"{full}.{name}: only string map keys are supported")
                flags += "m"
            if facts is not None:
                if facts["inline"]:
                    flags += "i"
                elif facts["json"] == "-":
                    flags += "-"
                elif facts["json"]:
                    name = facts["json"]
                if (
                    facts["omitempty"]
                    and not facts["pointer"]
                    and typ in SCALARS
                    and f["label"] not in ("repeated", "map")
                ):
                    flags += "z"
            fields.append([f["number"], name, typ, flags])
        if msg["nullable"]:
            if len(fields) != 1 or "r" not in fields[0][3]:
                sys.exit(f"{full}: a nullable message must be a single repeated field")
            lists.append(full)
        table[full] = fields
    return groups, lists, table


def write(out, refs, groups, lists, table):
    with open(out, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'"source": {json.dumps(refs)},\n')
        f.write(f'"groups": {json.dumps(groups, sort_keys=True)},\n')
        f.write(f'"lists": {json.dumps(lists)},\n')
        f.write('"messages": {\n')
        items = sorted(table.items())
        for i, (name, fields) in enumerate(items):
            sep = "," if i + 1 < len(items) else ""
            f.write(f"{json.dumps(name)}: {json.dumps(fields, separators=(',', ':'))}{sep}\n")
        f.write("}\n}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("api", help="k8s.io/api checkout or bare git directory")
    p.add_argument("apimachinery", help="k8s.io/apimachinery checkout or bare git directory")
    p.add_argument("--ref", default="v0.33.9", help="tag or branch to read from git directories")
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument(
        "-o",
        "--out",
        default=os.path.normpath(
            os.path.join(here, "..", "crates", "api", "src", "protobuf", "schema.json")
        ),
    )
    args = p.parse_args()
    api = Source(args.api, args.ref)
    machinery = Source(args.apimachinery, args.ref)
    groups, lists, table = build([(api, API_PACKAGES), (machinery, APIMACHINERY_PACKAGES)])
    if api.bare and machinery.bare:
        refs = f"k8s.io/api and k8s.io/apimachinery at {args.ref}"
    else:
        refs = "k8s.io/api and k8s.io/apimachinery checkouts"
    write(args.out, refs, groups, lists, table)
    print(f"wrote {len(table)} messages, {len(groups)} group versions to {args.out}")


if __name__ == "__main__":
    main()
