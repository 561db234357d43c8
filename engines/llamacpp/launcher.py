"""Run llama.cpp's server (embedded in xllamacpp) from llama-server's command line.

``python -m tuneops.engines.llamacpp --model M.gguf --host H --port P [llama-server flags]``

tuneops tunes llama.cpp on machines without a ``llama-server`` binary: the xllamacpp wheel
carries the same C++ server. This launcher is the missing ``main``: it parses llama-server's
flags (``tuneops.engines.llamacpp.flags``), copies them onto ``xllamacpp.CommonParams``,
starts the server and serves until SIGTERM/SIGINT. Prometheus ``/metrics`` is always
served (as with ``--metrics``), so every measurement can see inside the engine. Exit codes
follow the runner's classification: 2 for a flag llama-server would not parse, 1 when
llama.cpp refuses the configuration (its own message is already on stderr), 75
(EX_TEMPFAIL) when the port is already taken (an infrastructure problem, worth a retry
elsewhere), 0 after a clean stop.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading

from tuneops.engines.llamacpp.flags import apply, parser

EXIT_CONFIG = 1
EXIT_PORT_BUSY = 75


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (llama.cpp reports a busy port as a config error)."""
    if port == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def build_params(argv: list[str]):
    """Parse ``argv`` (exits 2 on a bad flag) into a ready ``xllamacpp.CommonParams``."""
    args = parser().parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    apply(args, params, xllamacpp)
    # /metrics always on (llama-server's --metrics): tuneops scrapes it while measuring
    # (schemas/engines.yaml llamacpp.metrics); serving it costs nothing between scrapes.
    params.endpoint_metrics = True
    return params


def serve(params, stop: threading.Event) -> int:
    """Start the server with ``params``; block until ``stop`` is set, then shut it down."""
    import xllamacpp

    host, port = params.hostnames[0], params.port
    if not port_free(host, port):
        print(f"llamacpp: cannot listen on {host}:{port}: address in use", file=sys.stderr,
              flush=True)
        return EXIT_PORT_BUSY
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        # llama.cpp logged the reason (e.g. "quantized V cache requires flash_attn") just
        # above; add one line the runner can show without reading the whole log.
        print(f"llamacpp: llama.cpp rejected the configuration: {exc}", file=sys.stderr,
              flush=True)
        return EXIT_CONFIG
    print(f"llamacpp: serving {params.model.path} at {server.listening_address}",
          file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        del server  # the destructor stops the HTTP server and the decode loop
    print("llamacpp: stopped", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    params = build_params(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return serve(params, stop)


if __name__ == "__main__":
    sys.exit(main())
