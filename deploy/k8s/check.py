"""Offline check of the Kubernetes files: no cluster, no helm, no network.

    python deploy/k8s/check.py [--values FILE] [--pvc FILE]

(defaults: values.yaml and exchange-pvc.yaml beside this script; any Python
with jsonschema and PyYAML, e.g. the project's .venv).

1. The values are merged over the chart's own defaults the way helm does
   (maps merged key by key, a null removes the default) and validated against
   the chart's JSON schema, both vendored from Zero to JupyterHub 4.4.0
   (vendor/zero-to-jupyterhub-4.4.0); helm runs the same schema at install.
2. The PersistentVolumeClaim is validated against Kubernetes 1.32's schema for
   it (vendor/kubernetes-1.32, strict: unknown fields are errors).
3. What the two must agree on, which no schema sees: every extra volume's
   claim is the PVC, the exchange is mounted at /srv/nbgrader/exchange (in
   users' servers and in the hub's pod, where the fm-exchange submission
   service runs from a file hub.extraFiles provides, at the address users'
   servers are given) and ReadWriteMany, and each hub.extraConfig entry is
   Python that compiles.

Prints every problem as FILE: where: what, and exits 1 if there is any.
"""

import argparse
import json
import os
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "vendor", "zero-to-jupyterhub-4.4.0")
PVC_SCHEMA = os.path.join(HERE, "vendor", "kubernetes-1.32", "persistentvolumeclaim-v1.json")
EXCHANGE = "/srv/nbgrader/exchange"


def load_yaml(path):
    try:
        with open(path) as f:
            # The C loader when PyYAML has it: the chart's schema is 130 kB.
            return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as e:
        sys.exit("check.py: cannot read %s: %s" % (path, e.strerror))
    except yaml.YAMLError as e:
        sys.exit("check.py: %s is not valid YAML: %s" % (path, e))


def helm_merge(defaults, values):
    """values over defaults as helm coalesces them: maps merge, null deletes, anything else replaces."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return values
    out = dict(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = helm_merge(defaults.get(key), value)
    return out


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def schema_problems(validator_class, schema, document):
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return ["%s: %s" % (where(e), e.message) for e in sorted(validator.iter_errors(document), key=str)]


def check(values_file, pvc_file):
    problems = []
    values = load_yaml(values_file)
    if not isinstance(values, dict):
        return ["%s: the values must be a mapping, not %s" % (values_file, type(values).__name__)]
    merged = helm_merge(load_yaml(os.path.join(CHART, "values.yaml")), values)
    schema = load_yaml(os.path.join(CHART, "values.schema.yaml"))
    problems += [values_file + ": " + p for p in schema_problems(jsonschema.Draft7Validator, schema, merged)]

    pvc = load_yaml(pvc_file)
    with open(PVC_SCHEMA) as f:
        pvc_schema = json.load(f)
    pvc_problems = schema_problems(jsonschema.Draft202012Validator, pvc_schema, pvc)
    problems += [pvc_file + ": " + p for p in pvc_problems]
    for key in ("apiVersion", "kind"):  # optional in the schema, required by kubectl apply
        if not isinstance(pvc, dict) or key not in pvc:
            problems.append("%s: %s is missing" % (pvc_file, key))
    if problems:
        return problems

    claim = (pvc.get("metadata") or {}).get("name")
    if "ReadWriteMany" not in ((pvc.get("spec") or {}).get("accessModes") or []):
        problems.append("%s: spec.accessModes: the exchange is shared by every server: it needs ReadWriteMany"
                        % pvc_file)
    storage = merged["singleuser"]["storage"]
    volumes = {v.get("name"): v for v in storage.get("extraVolumes") or []}
    for name, volume in volumes.items():
        claimed = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claimed is not None and claimed != claim:
            problems.append("%s: singleuser.storage.extraVolumes %s: claim %r, but %s makes %r"
                            % (values_file, name, claimed, pvc_file, claim))
    mounts = [m for m in storage.get("extraVolumeMounts") or [] if m.get("mountPath") == EXCHANGE]
    if not mounts or mounts[0].get("name") not in volumes:
        problems.append("%s: singleuser.storage.extraVolumeMounts: no volume is mounted at %s (nbgrader's exchange)"
                        % (values_file, EXCHANGE))
    problems += submission_desk_problems(values_file, merged, claim)
    for name, code in (merged["hub"].get("extraConfig") or {}).items():
        try:
            compile(code, "hub.extraConfig." + name, "exec")
        except SyntaxError as e:
            problems.append("%s: hub.extraConfig.%s line %s: %s" % (values_file, name, e.lineno, e.msg))
    return problems


def submission_desk_problems(values_file, merged, claim):
    """The fm-exchange service in the hub's pod: the exchange mounted there, its script provided, its
    address the one students' servers are given."""
    problems, hub = [], merged["hub"]
    volumes = {v.get("name"): v for v in hub.get("extraVolumes") or []}
    mounts = [m for m in hub.get("extraVolumeMounts") or [] if m.get("mountPath") == EXCHANGE]
    mounted = mounts and ((volumes.get(mounts[0].get("name")) or {}).get("persistentVolumeClaim") or {}).get(
        "claimName") == claim
    if not mounted:
        problems.append("%s: hub.extraVolumeMounts: the submission service files submissions into the exchange: "
                        "mount the claim %r at %s in the hub's pod too" % (values_file, claim, EXCHANGE))
    service = (hub.get("services") or {}).get("fm-exchange")
    if not service:
        return problems + ["%s: hub.services.fm-exchange is missing (students submit through it)" % values_file]
    provided = {f.get("mountPath") for f in (hub.get("extraFiles") or {}).values()}
    script = next((a for a in service.get("command") or [] if str(a).endswith(".py")), None)
    if script not in provided:
        problems.append("%s: hub.services.fm-exchange.command runs %r, which no hub.extraFiles entry provides"
                        % (values_file, script))
    given = (merged["singleuser"].get("extraEnv") or {}).get("FM_EXCHANGE_URL")
    if not isinstance(given, str) or not service.get("url") or not given.startswith(service["url"].rstrip("/") + "/"):
        problems.append("%s: singleuser.extraEnv.FM_EXCHANGE_URL %r is not under hub.services.fm-exchange.url %r"
                        % (values_file, given, service.get("url")))
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description="Offline check of the Zero to JupyterHub values and the exchange's PVC.")
    parser.add_argument("--values", default=os.path.join(HERE, "values.yaml"))
    parser.add_argument("--pvc", default=os.path.join(HERE, "exchange-pvc.yaml"))
    args = parser.parse_args(argv)
    problems = check(args.values, args.pvc)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print("ok: %s (over chart 4.4.0's defaults, its schema) and %s (Kubernetes 1.32's schema)"
          % (args.values, args.pvc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
