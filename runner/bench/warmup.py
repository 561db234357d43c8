"""A few real requests before measuring, so first-request costs stay out of the numbers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tuneops.spec import Experiment


def warmup(
    base_url: str,
    exp_or_model: Experiment | str,
    n: int = 2,
    *,
    max_tokens: int = 8,
    timeout_s: float = 120.0,
) -> int:
    """Send `n` small real chat completions before measuring (caches, graphs, lazy init).

    Returns how many succeeded; failures are not raised — the benchmark will show them.
    """
    model = exp_or_model.model.served_name if isinstance(exp_or_model, Experiment) \
        else exp_or_model
    body = json.dumps({
        "model": model, "max_tokens": max_tokens, "temperature": 0.0, "stream": False,
        "messages": [{"role": "user", "content": "Say hello and count to ten."}],
    }).encode()
    ok = 0
    for _ in range(max(int(n), 0)):
        req = urllib.request.Request(
            base_url.rstrip("/") + "/v1/chat/completions", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer tuneops"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
                ok += resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return ok
