"""`make bench` for concurrent-viewers: its bare-Python limit (`kappa.benchmarks.viewers_limit`) beside
kappa's backfill on the direct runner and on the embedded Flink, on the same seeded archive of
heartbeats, every result and session checked equal (`kappa.benchmarks.archive_bench`); then streamed from a Kafka backlog
through a Flink session cluster (`kappa.benchmarks.stream_backlog`).

    python -m kappa.benchmarks.viewers [--heartbeats 1000000,4000000] [--repeat 3] [--only kappa-backfill] [--stream-backlog 200000]
"""
import os
import sys
from typing import Optional

from kappa.benchmarks import archive_bench

HOURS = 24  # the archive's span of event time, whatever its size


def generate(heartbeats: int, max_delay_ms: Optional[int], directory: str) -> int:
    from kappa.io import generate_viewers

    written = generate_viewers.write_viewers_archive(
        generate_viewers.ViewersConfig(heartbeats=heartbeats, hours=HOURS, seed=4, max_delay_ms=max_delay_ms),
        os.path.join(directory, generate_viewers.STREAM), "avro")
    return written.records


def limit(archive: archive_bench.Archive) -> archive_bench.Written:
    from kappa.benchmarks import viewers_limit

    results, sessions = viewers_limit.viewers_archive(archive.paths("heartbeats"))
    return {"results": results.values(), "sessions": sessions.values()}


BENCH = archive_bench.Bench(module="kappa.benchmarks.viewers", pipeline="concurrent-viewers", streams=("heartbeats",),
                            outputs=("results", "sessions"), unit="heartbeats", sizes=(1_000_000, 4_000_000),
                            generate=generate, limit=limit)


def main(argv=None) -> int:
    return archive_bench.main_with_stream(BENCH, __doc__, argv, backlog=200_000)


if __name__ == "__main__":
    sys.exit(main())
