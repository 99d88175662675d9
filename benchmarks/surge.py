"""`make bench` for surge-pricing: its bare-Python limit (`kappa.benchmarks.surge_limit`) beside kappa's
backfill on the direct runner and on the embedded Flink, on the same seeded archive of ride requests
and driver locations, every result checked equal (`kappa.benchmarks.archive_bench`); then streamed from a Kafka backlog
through a Flink session cluster (`kappa.benchmarks.stream_backlog`).

    python -m kappa.benchmarks.surge [--events 1000000,4000000] [--repeat 3] [--only kappa-backfill] [--stream-backlog 200000]
"""
import sys
from typing import Optional

from kappa.benchmarks import archive_bench

HOURS = 24  # the archive's span of event time, whatever its size


def generate(events: int, max_delay_ms: Optional[int], directory: str) -> int:
    from kappa.io import generate_surge

    written = generate_surge.write_surge_archive(
        generate_surge.SurgeConfig(events=events, hours=HOURS, seed=4, max_delay_ms=max_delay_ms), directory, "avro")
    return written.requests.records + written.drivers.records


def limit(archive: archive_bench.Archive) -> archive_bench.Written:
    from kappa.benchmarks import surge_limit

    return {"results": surge_limit.surge_archive(archive.paths("requests"), archive.paths("drivers")).values()}


BENCH = archive_bench.Bench(module="kappa.benchmarks.surge", pipeline="surge-pricing", streams=("requests", "drivers"),
                            outputs=("results",), unit="events", sizes=(1_000_000, 4_000_000),
                            generate=generate, limit=limit)


def main(argv=None) -> int:
    return archive_bench.main_with_stream(BENCH, __doc__, argv, backlog=200_000)


if __name__ == "__main__":
    sys.exit(main())
