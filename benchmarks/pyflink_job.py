"""The peer: the same job written with PyFlink's DataStream API, run by the PyFlink environment
(`apache-flink` pins an old apache-beam, so it cannot share kappa's). Standalone: it imports no kappa.

    build/bench/pyflink-venv/bin/python benchmarks/pyflink_job.py --input orders.jsonl --result out.json

Local mode, batch execution, parallelism 2, Python functions in separate worker processes (Flink's
`process` execution mode). It reads the archive as JSON lines, as PyFlink's built-in file source
reads text without extra jars; the driver writes that copy once and does not time it.
"""
import argparse
import json
import sys
import time

from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat
from pyflink.datastream.functions import ProcessWindowFunction
from pyflink.datastream.window import TumblingEventTimeWindows
from pyflink.common.time import Time


class EventTime(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp) -> int:
        return value[2]


class CountDistinct(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield f"{key}:{context.window().start}\t{len({order_id for _, order_id, _ in elements})}"


def parse(line: str):
    order = json.loads(line)
    return order["region"], order["order_id"], order["event_time"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    config = Configuration()
    config.set_string("python.execution-mode", "process")
    config.set_string("python.executable", sys.executable)  # else workers start `python` from PATH
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    env.set_parallelism(args.parallelism)
    started = time.perf_counter()
    source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), args.input).build()
    results = (
        env.from_source(source, WatermarkStrategy.no_watermarks(), "orders")
        .map(parse, output_type=Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG()]))
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)).with_timestamp_assigner(EventTime()))
        .key_by(lambda order: order[0], key_type=Types.STRING())
        .window(TumblingEventTimeWindows.of(Time.minutes(1)))
        .process(CountDistinct(), output_type=Types.STRING())
    )
    counts = {}
    with results.execute_and_collect() as lines:
        for line in lines:
            key, count = line.split("\t")
            counts[key] = int(count)
    wall_s = time.perf_counter() - started
    with open(args.result, "w") as out:
        json.dump({"wall_s": wall_s, "counts": counts}, out)


if __name__ == "__main__":
    main()
