"""Remakes persistentvolumeclaim-v1.json here from the kubernetes-validate wheel (PyPI).

The wheel carries Kubernetes' own OpenAPI schemas converted to JSON Schema, one
file per kind plus a shared _definitions.json of ~1 MB. Only the PersistentVolumeClaim
is needed, so this keeps that file and the definitions it reaches, in one
self-contained schema ($defs, references rewritten to point inside it).

    pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
    python deploy/k8s/vendor/kubernetes-1.32/extract.py /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl
"""

import json
import os
import sys
import zipfile

VERSION = "v1.32.0-local-strict"
# References from the kind's file into the shared one, and within the shared one.
PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")

wheel = sys.argv[1] if len(sys.argv) == 2 else sys.exit("usage: extract.py KUBERNETES_VALIDATE_WHEEL")
base = "kubernetes_validate/kubernetes-json-schema/%s/" % VERSION
with zipfile.ZipFile(wheel) as z:
    kind = json.loads(z.read(base + "persistentvolumeclaim-v1.json"))
    defs = json.loads(z.read(base + "_definitions.json"))["$defs"]

keep = {}


def walk(node):
    """Rewrites references to the shared file as local ones, collecting what they name."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        prefix = next((p for p in PREFIXES if isinstance(ref, str) and ref.startswith(p)), None)
        if prefix:
            name = ref[len(prefix):]
            node["$ref"] = "#/$defs/" + name
            if name not in keep:
                keep[name] = defs[name]
                walk(keep[name])
        for key, value in node.items():
            if key != "$ref":
                walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)


walk(kind)
kind["$defs"] = dict(sorted(keep.items()))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "persistentvolumeclaim-v1.json")
with open(out, "w") as f:
    json.dump(kind, f, indent=2)
    f.write("\n")
print("wrote %s (%d definitions)" % (out, len(keep)))
