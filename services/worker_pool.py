"""Beam's SDK worker pool, on loopback unless told otherwise.

    python -m kappa.services.worker_pool --port 50000 [--host localhost]

A job with `--environment_type=EXTERNAL` asks the pool at `--environment_config` to start its Python
workers; the pool starts one for whoever asks, unauthenticated, and the worker runs the code the job
sends. Beam's own entry point (`apache_beam.runners.worker.worker_pool_main`) and its LOOPBACK
environment listen on every interface (`[::]`), so this module serves the same servicer on a host of
its choosing: loopback by default, another interface only when `--host` says so, on a network where
only the task managers can reach it (README, "Production").
"""
import argparse
import atexit
import functools
import logging
import signal
import sys
from typing import List, Optional, Tuple

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer, kill_process_gracefully
from apache_beam.utils import thread_pool_executor

LOOPBACK = "localhost"
# As Beam's pool: the job server's keep-alive pings may come without data.
_GRPC_OPTIONS = [("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)]


def serve(host: str = LOOPBACK, port: int = 0, in_process: bool = False) -> Tuple[str, grpc.Server]:
    """Start Beam's pool servicer on host:port (0: a free port); returns `host:port` and the server.

    `in_process`: run each worker as a thread of this process (Beam's LOOPBACK), else as a `python`
    process of its own (Beam's worker pool)."""
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(), options=_GRPC_OPTIONS)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        raise OSError(f"cannot listen on {host}:{port}") from None
    servicer = BeamFnExternalWorkerPoolServicer(use_process=not in_process)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
    server.start()

    def stop_workers() -> None:  # as Beam's own start() does at exit
        for worker in list(servicer._worker_processes.values()):
            kill_process_gracefully(worker)

    atexit.register(stop_workers)
    return f"{host}:{bound}", server


@functools.lru_cache(maxsize=None)
def in_process() -> Tuple[str, grpc.Server]:
    """This process's own pool on loopback, started once: what the embedded Flink's Python stages run
    in (Beam's LOOPBACK environment, bound to loopback)."""
    return serve(in_process=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_pool", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the port to listen on; 0: a free one")
    parser.add_argument("--host", default=LOOPBACK,
                        help="the interface to listen on (default: %(default)s); another only on a network "
                             "where nothing but the task managers can reach the pool")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        address, server = serve(args.host, args.port)
    except OSError as err:
        print(f"worker_pool: error: {err}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=None))
    logging.getLogger(__name__).info("Beam worker pool listening on %s", address)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
