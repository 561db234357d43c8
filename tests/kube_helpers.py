"""A Kubernetes API server for tests: kmock's KubernetesEmulator in a thread on 127.0.0.1.

The emulator is an in-memory Kubernetes API over real HTTP, so the real `kubernetes` client
and kubeconfig loading run unchanged against it. It stores and serves objects; it runs no
controllers, validates nothing and ignores label selectors (callers filter themselves).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kmock

CRD_RESOURCE = "apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass
class ApiServer:
    url: str
    emulator: kmock.KubernetesEmulator
    loop: asyncio.AbstractEventLoop

    def crd_reads(self) -> list[str]:
        """Paths of the CRD requests the server answered (kmock records every request)."""
        paths = [request.url.path for request in list(self.emulator)]
        return [p for p in paths if "customresourcedefinitions" in p]

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the server's event loop (the emulator is not thread-safe)."""

        async def run() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


def _serve(crd_docs: list[dict], ready: queue.Queue) -> None:
    async def main() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            for crd in crd_docs:  # CRDs are cluster-scoped: no namespace
                emulator.objects[CRD_RESOURCE, None, crd["metadata"]["name"]] = crd
            stop = asyncio.Event()
            url = f"http://127.0.0.1:{server.port}"
            ready.put((url, emulator, asyncio.get_running_loop(), stop))
            await stop.wait()

    try:
        asyncio.run(main())
    except BaseException as exc:  # noqa: BLE001 - hand start-up failures to the caller
        ready.put(exc)


@contextmanager
def running_api_server(crd_docs: list[dict] = ()) -> Iterator[ApiServer]:
    """Start the emulator (preloaded with ``crd_docs``) and stop it on exit."""
    ready: queue.Queue = queue.Queue()
    thread = threading.Thread(target=_serve, args=(list(crd_docs), ready), daemon=True)
    thread.start()
    got = ready.get(timeout=60)
    if isinstance(got, BaseException):
        raise got
    url, emulator, loop, stop = got
    try:
        yield ApiServer(url, emulator, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
    assert not thread.is_alive()


def write_kubeconfig(path: Path, server: str, namespace: str | None = None) -> Path:
    context: dict = {"cluster": "emulator", "user": "tester"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "emulator", "context": context}],
    }))
    return path
