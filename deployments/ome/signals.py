"""What says, in seconds, that a trial will never serve: OME's Warning Events on the
InferenceService, the kubelet's and scheduler's pod states, and an admission webhook's
denial. Each becomes failed_config (the experiment must change; not retried) or
failed_infra (the cluster; retried), with the cluster's own reason text, instead of a
wait for the startup timeout.

Pure functions over what the Kubernetes client returns; the backend does the calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CONFIG, INFRA = "config", "infra"

# Warning Events OME's InferenceService controller records when it gives up on the spec
# as written (pkg/controller/v1beta1/inferenceservice/controller.go at 17b77eda). The
# reconcile is retried, but the spec stays wrong: each is a configuration failure.
CONFIG_EVENTS = frozenset({
    "ModelReconcileError",      # :221 the base model cannot be resolved
    "RuntimeValidationError",   # :236 "Runtime %s does not support model %s: %v"
    "RuntimeFetchError",        # :245 the named runtime cannot be read
    "RuntimeSelectionError",    # :254 no runtime supports the model
    "MergeSpecsError",          # :267
    "DeploymentModeError",      # :275
    "AcceleratorClassError",    # :289, :323
    "ServerlessModeRejected",   # :549
})
# Container waiting reasons the kubelet reports that waiting does not fix
# (k8s.io/kubernetes pkg/kubelet/images/types.go: ErrImagePull, ImagePullBackOff,
# InvalidImageName; pkg/kubelet/kuberuntime: CreateContainerConfigError, ...).
IMAGE_STATES = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
CONTAINER_CONFIG_STATES = frozenset({"CreateContainerConfigError", "CreateContainerError"})
CRASH_LOOP = "CrashLoopBackOff"  # OME reads the same reason: pkg/constants/constants.go:474
OOM_KILLED = "OOMKilled"  # the kubelet's terminated reason for a memory-limit kill
UNSCHEDULABLE = "Unschedulable"  # PodScheduled=False reason set by kube-scheduler
# k8s.io/apiserver pkg/admission/plugin/webhook/errors/statuserror.go (ToStatusErr):
# 'admission webhook "<name>" denied the request: <reason>', code 403 unless the webhook
# set one. OME's webhooks deny through controller-runtime's admission.Denied (403).
WEBHOOK_DENIAL = "denied the request"


@dataclass(frozen=True)
class Signal:
    kind: str  # CONFIG or INFRA
    why: str
    exit_code: int | None = None  # the engine's last exit code, when the kubelet gives one


def webhook_denial(exc: Exception) -> str | None:
    """The webhook's message when ``exc`` is an admission webhook's denial (not RBAC's
    403, which says '... is forbidden: User ... cannot ...')."""
    if getattr(exc, "status", None) != 403:
        return None
    try:
        message = json.loads(getattr(exc, "body", None) or "")["message"]
    except (TypeError, ValueError, KeyError):
        return None
    if "admission webhook" in message and WEBHOOK_DENIAL in message:
        return message
    return None


def _get(obj: Any, *names: str) -> Any:
    """An attribute chain of a kubernetes client model (None where any step is None)."""
    for name in names:
        obj = getattr(obj, name, None) if obj is not None else None
    return obj


def from_events(events: list, name: str, uid: str | None) -> Signal | None:
    """The first Warning Event OME recorded on this InferenceService (this incarnation of
    it, by uid, when known) that names a configuration it will not serve."""
    found = sorted(
        (e for e in events
         if _get(e, "involved_object", "kind") == "InferenceService"
         and _get(e, "involved_object", "name") == name
         and (uid is None or _get(e, "involved_object", "uid") in (None, "", uid))
         and e.type == "Warning" and e.reason in CONFIG_EVENTS),
        key=lambda e: str(e.last_timestamp or e.event_time or ""))
    if not found:
        return None
    event = found[0]
    return Signal(CONFIG, f"Event {event.reason}: {event.message or ''}".strip())


def from_pods(pods: list) -> Signal | None:
    """A pod state that waiting will not fix, with the kubelet's or scheduler's text."""
    for pod in pods:
        pname = pod.metadata.name
        for cond in _get(pod, "status", "conditions") or []:
            if cond.type == "PodScheduled" and cond.status == "False" \
                    and cond.reason == UNSCHEDULABLE:
                return Signal(INFRA, f"pod {pname}: {UNSCHEDULABLE}: {cond.message or ''}")
        for cs in _get(pod, "status", "container_statuses") or []:
            waiting = _get(cs, "state", "waiting")
            last = _get(cs, "last_state", "terminated") or _get(cs, "state", "terminated")
            if last is not None and last.reason == OOM_KILLED:
                return Signal(CONFIG, f"pod {pname}: container {cs.name} {OOM_KILLED} "
                                      f"(exit {last.exit_code}): the trial's settings need "
                                      "more memory than the pod may use")
            if waiting is None:
                continue
            text = f"pod {pname}: {waiting.reason}: {waiting.message or ''}".strip()
            if waiting.reason in IMAGE_STATES or waiting.reason in CONTAINER_CONFIG_STATES:
                return Signal(CONFIG, text)
            if waiting.reason == CRASH_LOOP:
                return Signal(CONFIG, text, last.exit_code if last is not None else None)
    return None
