"""OME's CRDs as JSON Schemas, so every rendered manifest is checked before it is written.

A CRD's `openAPIV3Schema` is a Kubernetes dialect of JSON Schema. `to_json_schema`
translates the Kubernetes parts: `x-kubernetes-int-or-string`, `nullable`,
`x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`, list types
(`set` items unique, `map` items unique by their keys), `int32`/`int64` ranges, and it
makes objects strict (an unknown field is an error, as with `kubectl --validate=strict`)
because a misspelt field would otherwise be pruned silently by the API server.

The CRD files are large (InferenceService is 1.8 MB of YAML, a second to parse), so each
translated schema is kept once per process and in a JSON cache keyed by the file's hash.
Schemas come from a folder of CRD files or, with `crd_source("cluster")`, from the live
cluster's `apiextensions.k8s.io/v1` API.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneops.renderers.schemacheck import Validator

from tuneops import schemas
from tuneops.errors import Diagnostic, UserError

GROUP = "ome.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_CRD_DIR = schemas.ROOT / "crds" / "ome"  # vendored; scripts/vendor_ome_crds.py refreshes
CRD_DIR_ENV = "TUNEOPS_CRD_DIR"
CACHE_DIR_ENV = "TUNEOPS_CACHE_DIR"
CLUSTER = "cluster"  # crd_source(CLUSTER): read the CRDs from the current kubeconfig context
_CONVERTER_VERSION = "1"  # bump when to_json_schema changes, to invalidate caches

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# Kinds whose name becomes a Service or pod label, so it must be a DNS label (<= 63).
LABEL_NAMED_KINDS = frozenset({"InferenceService", "BenchmarkJob"})

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_DROP = {"description", "default", "example", "externalDocs", "format", "title"}


# ---------------------------------------------------------------- translation
def to_json_schema(node: Any) -> Any:
    """Translate one (sub)schema of a CRD into plain JSON Schema (draft 7)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key == "nullable":
            continue
        else:
            out[key] = value
    fmt = node.get("format")
    if fmt in _INT_RANGES and node.get("type") == "integer":
        low, high = _INT_RANGES[fmt]
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        out["uniqueItems"] = True
    elif list_type == "map" and node.get("x-kubernetes-list-map-keys"):
        out["uniqueKeys"] = list(node["x-kubernetes-list-map-keys"])
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


def _metadata_schema(kind: str, namespaced: bool) -> dict:
    name = (
        {"type": "string", "maxLength": 63, "pattern": DNS_LABEL}
        if kind in LABEL_NAMED_KINDS
        else {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN}
    )
    labels = {
        "type": "object",
        "propertyNames": {"maxLength": 317, "pattern": LABEL_KEY},
        "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE},
    }
    meta: dict[str, Any] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": name,
            "labels": labels,
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    if namespaced:
        meta["required"] = ["name", "namespace"]
        meta["properties"]["namespace"] = {"type": "string", "maxLength": 63, "pattern": DNS_LABEL}
    return meta


def schema_for(crd: dict, version: str = VERSION) -> tuple[str, dict]:
    """(kind, JSON Schema of a whole object) for one CRD document."""
    spec = crd["spec"]
    kind = spec["names"]["kind"]
    found = [v for v in spec.get("versions", []) if v.get("name") == version]
    if not found:
        raise KeyError(f"CRD {kind} has no version {version}")
    schema = to_json_schema(found[0]["schema"]["openAPIV3Schema"])
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": f"{spec['group']}/{version}"}
    props["kind"] = {"const": kind}
    props["metadata"] = _metadata_schema(kind, spec.get("scope") == "Namespaced")
    props.pop("status", None)  # never rendered: the controller owns it
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    return kind, schema


# ---------------------------------------------------------------- loading
def _parse_yaml(text: str) -> Any:
    try:  # libyaml: ~1 s for the largest CRD, against ~8 s pure Python
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except ImportError:  # pragma: no cover - PyYAML comes with the kubernetes client
        from ruamel.yaml import YAML

        return YAML(typ="safe").load(text)


def cache_dir() -> Path | None:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuneops" / "crd-schemas"


def _candidates(folder: Path, kind: str) -> list[Path]:
    plural = kind.lower() + "s"
    return [
        folder / f"{kind}.crd.yaml",
        folder / f"{kind}.yaml",
        folder / f"{GROUP}_{plural}.yaml",
        folder / f"{plural}.{GROUP}.yaml",
    ]


def load_schema_file(path: Path) -> tuple[str, dict]:
    """Kind and translated schema of a CRD file, through the on-disk JSON cache."""
    data = path.read_bytes()
    digest = hashlib.sha256(data + _CONVERTER_VERSION.encode()).hexdigest()[:24]
    folder = cache_dir()
    cached = folder / f"{path.name}.{digest}.json" if folder else None
    if cached is not None and cached.exists():
        try:
            blob = json.loads(cached.read_text())
            return blob["kind"], blob["schema"]
        except (OSError, ValueError, KeyError):
            pass
    kind, schema = schema_for(_parse_yaml(data.decode("utf-8")))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"kind": kind, "schema": schema}, sort_keys=True))
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only checkout still renders, only slower
    return kind, schema


@dataclass
class SchemaSet:
    """Validators per kind, loaded on first use from `fetch(kind) -> schema`."""

    source: str
    fetch: Callable[[str], dict]
    _validators: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def validator(self, kind: str):
        with self._lock:
            if kind not in self._validators:
                self._validators[kind] = Validator(self.fetch(kind))
            return self._validators[kind]

    def errors(self, manifest: dict) -> list[str]:
        """Every way `manifest` breaks its CRD's schema ([] when valid)."""
        kind = manifest.get("kind")
        if not isinstance(kind, str):
            return ["manifest has no kind"]
        found = self.validator(kind).errors(manifest)
        if not found:
            return []
        name = (manifest.get("metadata") or {}).get("name", "?")
        found.sort(key=lambda e: (tuple(map(str, e[0])), e[1]))
        return [f"{kind} {name}: {'.'.join(map(str, p)) or '(root)'}: {m}" for p, m in found]


_DIR_SETS: dict[Path, SchemaSet] = {}
_DIR_LOCK = threading.Lock()


def from_dir(folder: Path) -> SchemaSet:
    """The CRDs in a folder (`<Kind>.crd.yaml`, or OME's `ome.io_<plural>.yaml`)."""
    folder = Path(folder).resolve()
    with _DIR_LOCK:
        if folder in _DIR_SETS:
            return _DIR_SETS[folder]

        def fetch(kind: str) -> dict:
            for path in _candidates(folder, kind):
                if path.exists():
                    found, schema = load_schema_file(path)
                    if found != kind:
                        raise UserError(
                            [Diagnostic(str(path), 0, 0, "", f"holds kind {found}, not {kind}")]
                        )
                    return schema
            raise UserError([Diagnostic(
                str(folder), 0, 0, "", f"no CRD for {kind} in {folder}",
                f"expected {_candidates(folder, kind)[0].name}",
            )])

        _DIR_SETS[folder] = SchemaSet(str(folder), fetch)
        return _DIR_SETS[folder]


def from_cluster(context: str | None = None) -> SchemaSet:
    """The CRDs installed in the cluster of the current kubeconfig (or `context`).

    $KUBECONFIG is read now, not when the client was imported (the client's own default
    is frozen at import), and the client configuration stays ours, not the process-wide
    default."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    where = f"cluster:{context or 'current-context'}"
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG") or None, context=context,
            client_configuration=configuration, persist_config=False,
        )
    except config.ConfigException as exc:
        raise UserError(
            [Diagnostic(where, 0, 0, "", f"cannot load the kubeconfig: {exc}")]
        ) from None
    api = client.ApiextensionsV1Api(client.ApiClient(configuration))

    def fetch(kind: str) -> dict:
        name = f"{kind.lower()}s.{GROUP}"
        try:
            resp = api.read_custom_resource_definition(name, _preload_content=False)
        except ApiException as exc:
            raise UserError([Diagnostic(
                where, 0, 0, "", f"cannot read CRD {name}: {exc.status} {exc.reason}",
                "install OME's CRDs in the cluster, or pass --crd-dir with the CRD files",
            )]) from None
        return schema_for(json.loads(resp.data))[1]

    return SchemaSet(where, fetch)


def crd_source(crd_dir: Path | str | None = None) -> SchemaSet:
    """Where schemas come from: `crd_dir` ("cluster" for the live cluster), else
    $TUNEOPS_CRD_DIR, else the CRDs vendored with tuneops (schemas/crds/ome)."""
    if crd_dir is not None and str(crd_dir) == CLUSTER:
        return from_cluster()
    if crd_dir is None and os.environ.get(CRD_DIR_ENV):
        crd_dir = os.environ[CRD_DIR_ENV]
    if crd_dir is None:
        crd_dir = DEFAULT_CRD_DIR
    if not Path(crd_dir).is_dir():
        raise UserError([Diagnostic(
            str(crd_dir or DEFAULT_CRD_DIR), 0, 0, "",
            "no OME CRDs to validate the manifests against",
            "pass --crd-dir with OME's CRD files (config/crd/full), or 'cluster' with a kubeconfig",
        )])
    return from_dir(Path(crd_dir))


# prometheus-operator's PodMonitor (deployment.ome.monitoring), vendored from the tag
# SOURCE.json names: not an OME kind, and v1, so it has a schema set of its own.
MONITORING_CRD_DIR = schemas.ROOT / "crds" / "prometheus-operator"
MONITORING_KINDS = {"PodMonitor": "v1"}


def monitoring_schemas() -> SchemaSet:
    """The vendored prometheus-operator CRDs, by kind."""

    def fetch(kind: str) -> dict:
        if kind not in MONITORING_KINDS:
            raise UserError([Diagnostic(str(MONITORING_CRD_DIR), 0, 0, "",
                                        f"no vendored CRD for {kind}")])
        crd = _parse_yaml((MONITORING_CRD_DIR / f"{kind}.crd.yaml").read_text())
        return schema_for(crd, MONITORING_KINDS[kind])[1]

    with _DIR_LOCK:
        if MONITORING_CRD_DIR not in _DIR_SETS:
            _DIR_SETS[MONITORING_CRD_DIR] = SchemaSet(str(MONITORING_CRD_DIR), fetch)
        return _DIR_SETS[MONITORING_CRD_DIR]
