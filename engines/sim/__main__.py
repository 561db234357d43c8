"""A simulated SGLang server.

``python -m tuneops.engines.sim --model-path M --host H --port P [SGLang flags]``

Start-up mirrors the real server's: log the memory plan, "load weights", fail like a CUDA
out-of-memory when the plan does not fit (exit 1), capture CUDA graphs, then listen. Only
start-up is shortened by ``--time-scale``; serving runs in real time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from tuneops.engines.sim import config, profiles
from tuneops.engines.sim.api import Api
from tuneops.engines.sim.http import serve
from tuneops.engines.sim.tokens import Tokens, find_tokenizer

log = logging.getLogger("tuneops.engines.sim")
BANNER = ("SIMULATED ENGINE (tuneops.engines.sim): no GPU is used; every number this server "
          "produces is modelled, not measured.")


async def _main(ns) -> int:
    model = config.perf_model(ns)
    name, guessed = config.model_name(ns)
    plan, s = model.plan, model.s
    scale = max(0.0, ns.time_scale)
    total = model.startup_seconds() * scale
    log.warning(BANNER)
    if guessed:
        log.warning("no model profile matches %r; simulating %s (use --sim-model)",
                    ns.model_path, name)
    log.info("server_args: gpu_type=%s sim_model=%s tp_size=%d dp_size=%d "
             "mem_fraction_static=%.3f chunked_prefill_size=%s schedule_policy=%s",
             ns.gpu_type, name, s.tp, s.dp, plan.mem_fraction_static,
             model.chunked_prefill_size, s.schedule_policy)
    log.info("Load weight begin. avail mem=%.2f GB", plan.total_gib)
    await asyncio.sleep(total * 0.6)
    if plan.error and plan.error.startswith("torch.OutOfMemoryError") and \
            plan.weights_gib > plan.total_gib - 1:
        return _fail(plan.error)
    log.info("Load weight end. type=%s, dtype=torch.bfloat16, avail mem=%.2f GB, "
             "mem usage=%.2f GB.", model.model.architecture, plan.total_gib - plan.weights_gib,
             plan.weights_gib)
    if plan.error and plan.error.startswith("RuntimeError"):
        return _fail(plan.error)
    log.info("KV Cache is allocated. #tokens: %d, KV size: %.2f GB", plan.max_total_tokens,
             plan.kv_pool_gib)
    if not s.disable_cuda_graph:
        log.info("Capture cuda graph begin. This can take up to several minutes. "
                 "max_bs=%d", model.cuda_graph_max_bs)
    await asyncio.sleep(total * 0.4)
    if plan.error:
        return _fail(plan.error)
    log.info("max_total_num_tokens=%d, chunked_prefill_size=%s, max_prefill_tokens=%d, "
             "max_running_requests=%d, context_len=%d", plan.max_total_tokens,
             model.chunked_prefill_size or -1, s.max_prefill_tokens,
             model.max_running_requests, model.context_length)
    tok_path = find_tokenizer(getattr(ns, "tokenizer_path", None), ns.model_path)
    tokens = Tokens(tok_path)
    if tok_path is None:
        log.warning("no tokenizer.json found: counting ~4 bytes per token")
    info = {"gpu_profile": vars(profiles.gpu(ns.gpu_type)),
            "model_profile": {**vars(model.model), "match": list(model.model.match)},
            "sim_model": name, "startup_seconds_modelled": model.startup_seconds()}
    api = Api(ns, model, tokens, info)
    tasks = api.start()
    server = await serve(ns.host, ns.port, api.handle)
    log.info("Uvicorn running on http://%s:%d (simulated)", ns.host, ns.port)
    log.info("The server is fired up and ready to roll! (simulated)")
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or
                                                      stop.set_result(None))
    await stop
    server.close()
    for t in tasks:
        t.cancel()
    log.info("shutting down")
    return 0


def _fail(message: str) -> int:
    log.error("Scheduler hit an exception: Traceback (most recent call last):\n  (simulated)\n%s",
              message)
    log.error("Exit code: -9 (simulated start-up failure)")
    return 1


def main(argv: list[str] | None = None) -> int:
    ns = config.parse_args(argv)
    level = str(getattr(ns, "log_level", "info") or "info").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stdout,
                        format="[%(asctime)s] %(message)s", force=True)
    try:
        return asyncio.run(_main(ns))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
