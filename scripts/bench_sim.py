"""How cheap is the simulator? Streams at concurrency 256 against one sim and prints
CPU time per streamed token and achieved vs modelled output throughput.

    python scripts/bench_sim.py [--concurrency 256] [--requests 1024] [--max-seconds 60]
        [-- extra sim flags]

The client is a bounded asyncio loop on raw sockets (127.0.0.1). "Modelled" is the
simulator's own closed-loop prediction
(tuneops.engines.sim.scheduler.closed_loop) for the same load,
so achieved/modelled near 1.0 means the simulator's CPU is not what limits throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tuneops.engines.sim import config  # noqa: E402
from tuneops.engines.sim.scheduler import closed_loop  # noqa: E402

USAGE = re.compile(rb'"usage":\{"prompt_tokens":(\d+),"completion_tokens":(\d+)')
PROMPT = ("Inference servers batch requests continuously and the KV cache bounds how many "
          "can run at once. ") * 6


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_request(host: str, port: int, body: bytes) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
        data = bytearray()
        while not data.endswith(b"0\r\n\r\n"):
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
        m = USAGE.search(data)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    finally:
        writer.close()


async def drive(host: str, port: int, concurrency: int, requests: int, max_s: float,
                out_len: int) -> tuple[int, int, float, int]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": PROMPT}],
                       "max_tokens": out_len, "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    left = requests
    tokens = done = prompt = 0
    start = time.monotonic()

    async def client() -> None:
        nonlocal left, tokens, done, prompt
        while left > 0 and time.monotonic() - start < max_s:
            left -= 1
            p, n = await one_request(host, port, body)
            tokens += n
            prompt = p
            done += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return tokens, done, time.monotonic() - start, prompt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--requests", type=int, default=1024)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--output-len", type=int, default=100)
    ap.add_argument("sim_args", nargs="*", help="extra simulator flags (after --)")
    a = ap.parse_args()
    sim_args = ["--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--gpu-type", "H100",
                *a.sim_args]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneops.engines.sim", "--host", "127.0.0.1", "--port", str(port),
         "--time-scale", "0.001", *sim_args], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("simulator did not come up")
        cpu0, client0 = cpu_seconds(proc.pid), time.process_time()
        tokens, done, wall, prompt = asyncio.run(
            drive("127.0.0.1", port, a.concurrency, a.requests, a.max_seconds, a.output_len))
        cpu = cpu_seconds(proc.pid) - cpu0
        client_cpu = time.process_time() - client0
        info = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/get_server_info"))
    finally:
        proc.terminate()
        proc.wait(10)
    model = config.perf_model_from_argv(sim_args)
    predicted = closed_loop(model, a.concurrency, prompt, a.output_len, done)
    achieved = tokens / wall
    print(f"load: concurrency {a.concurrency}, {done} requests of {prompt} prompt + "
          f"{a.output_len} output tokens, {wall:.1f} s wall")
    print(f"simulator CPU: {cpu:.2f} s for {tokens} streamed tokens = "
          f"{cpu / max(tokens, 1) * 1e6:.1f} us/token ({cpu / wall * 100:.0f}% of one core)")
    print(f"client CPU:    {client_cpu:.2f} s ({client_cpu / max(tokens, 1) * 1e6:.1f} us/token)")
    print(f"throughput: achieved {achieved:.0f} tok/s, modelled {predicted.output_throughput:.0f}"
          f" tok/s, ratio {achieved / predicted.output_throughput:.3f}")
    rt = info["runtime"]
    print(f"simulator: {rt['steps']} steps, modelled busy {rt['busy_s']:.2f} s of {wall:.2f} s "
          f"wall, mean lag behind model time {rt['lag_s'] / max(rt['steps'], 1) * 1e3:.1f} ms/step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
