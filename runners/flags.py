"""Flag groups of `kappa run` for the Flink runner and for streaming from and to Kafka.

Each `*_from_args` raises ValueError with a readable reason; the CLI turns it into a usage error.
"""
import argparse
import re
from typing import Dict, List, Optional, Sequence

from kappa.io import kafka
from kappa.io.event_codec import ValueFormat
from kappa.runners.flink import LOCAL, Checkpointing, FlinkSettings, StateBackend
from kappa.transforms.windowing import DAY_MS, HOUR_MS, duration_flag_ms, format_duration_ms

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
STREAM_CHECKPOINT_INTERVAL = "60s"
# Upper bounds of the Flink and Kafka durations; past them a job would stall rather than run.
MAX_CHECKPOINT_INTERVAL_MS = DAY_MS
MAX_IDLE_TIMEOUT_MS = DAY_MS
MAX_POLL_MS = HOUR_MS  # --max-read, --idle-poll
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")


def add_flink_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Flink (--runner flink)")
    group.add_argument("--flink-master", default=LOCAL, metavar="HOST:PORT",
                       help="a session cluster's REST address, or [local] for an embedded Flink (default)")
    group.add_argument("--parallelism", type=int, default=2, help="Flink's parallelism, at least 1")
    group.add_argument("--worker-pool", default="localhost:50000", metavar="HOST:PORT",
                       help="the Beam worker pool beside the cluster's task managers")
    group.add_argument("--checkpoint-interval", metavar="DURATION",
                       help=f"periodic checkpoints, at most {format_duration_ms(MAX_CHECKPOINT_INTERVAL_MS)} "
                       f"(default: {STREAM_CHECKPOINT_INTERVAL} in stream mode, else none)")
    group.add_argument("--checkpointing", choices=[c.value for c in Checkpointing],
                       default=Checkpointing.EXACTLY_ONCE.value, help="how checkpoint barriers align")
    group.add_argument("--state-backend", choices=[b.value for b in StateBackend], default=StateBackend.HASHMAP.value,
                       help="hashmap keeps state on the heap, rocksdb on local disk")
    group.add_argument("--checkpoint-dir", metavar="URI", help="where checkpoints go (default: the cluster's)")
    group.add_argument("--from-savepoint", metavar="PATH",
                       help="start with the state of this savepoint (default: none, a fresh start)")
    group.add_argument("--job-name", help="the Flink job's name, for `kappa stop` (default: the pipeline's)")


def flink_settings_from_args(args: argparse.Namespace, streaming: bool, default_job_name: str) -> FlinkSettings:
    if args.flink_master != LOCAL and not _HOST_PORT.match(args.flink_master):
        raise ValueError(f"--flink-master must be HOST:PORT or {LOCAL}, got {args.flink_master!r}")
    if args.parallelism < 1:
        raise ValueError(f"--parallelism must be at least 1, got {args.parallelism}")
    interval = args.checkpoint_interval or (STREAM_CHECKPOINT_INTERVAL if streaming else None)
    interval_ms = (duration_flag_ms("--checkpoint-interval", interval, MAX_CHECKPOINT_INTERVAL_MS)
                   if interval else None)
    return FlinkSettings(
        master=args.flink_master,
        parallelism=args.parallelism,
        worker_pool=args.worker_pool,
        checkpoint_interval_ms=interval_ms,
        checkpointing=Checkpointing(args.checkpointing),
        state_backend=StateBackend(args.state_backend),
        checkpoint_dir=args.checkpoint_dir,
        from_savepoint=args.from_savepoint,
        job_name=args.job_name or default_job_name,
    )


def add_bootstrap_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", default=DEFAULT_BOOTSTRAP, metavar="HOST:PORT[,...]",
                        help="the Kafka brokers")


def add_kafka_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kafka (--mode stream)")
    add_bootstrap_flag(group)
    group.add_argument("--input-topic", action="append", metavar="STREAM=TOPIC",
                       help="where an input's events are read, once per input (default: the input's name; a "
                            "pipeline of one input also takes TOPIC alone)")
    group.add_argument("--output-topic", action="append", metavar="OUTPUT=TOPIC",
                       help="where an output goes, keyed by its records' key, once per output (default: the "
                            "output's topic in `kappa run NAME --help`; TOPIC alone is the main output's)")
    group.add_argument("--dead-letter-topic", metavar="TOPIC",
                       help="where records that break their contract go, keyed by where they were read "
                            "(default: the pipeline's, in `kappa run NAME --help`)")
    group.add_argument("--late-topic", metavar="TOPIC",
                       help="where records too late for the pipeline go (default: <pipeline>-late)")
    group.add_argument("--group-id", metavar="GROUP",
                       help="the consumer group whose offsets it commits (default: kappa-<pipeline>)")
    group.add_argument("--start-from", choices=[s.value for s in kafka.StartFrom], default=kafka.StartFrom.COMMITTED.value,
                       help="committed: the group's committed offsets, else the earliest")
    group.add_argument("--output-format", choices=[f.value for f in ValueFormat], default=ValueFormat.AVRO.value,
                       help="avro: the Confluent wire format")
    group.add_argument("--idle-timeout", default="10s", metavar="DURATION",
                       help="a partition silent this long stops holding the watermark back, at most "
                       f"{format_duration_ms(MAX_IDLE_TIMEOUT_MS)}")
    poll_max = format_duration_ms(MAX_POLL_MS)
    group.add_argument("--max-read", default=format_duration_ms(kafka.KafkaSource.max_read_ms), metavar="DURATION",
                       help="the longest a read of a partition lasts while the job is behind (a read that "
                       f"catches up ends there); its records and watermark move on when it ends; at most {poll_max}")
    group.add_argument("--idle-poll", default=format_duration_ms(kafka.KafkaSource.idle_poll_ms), metavar="DURATION",
                       help="how long a partition that had nothing to read waits before reading again: "
                       f"longer slows the growth of Flink's checkpointed state while idle (docs/design.md); "
                       f"at most {poll_max}")


_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def named_values(flag: str, given: Optional[List[str]], names: Sequence[str], what: str) -> Dict[str, str]:
    """Each `NAME=VALUE` of a repeated flag -> {name: value}; with one name, `VALUE` alone is its value.
    A `NAME=` that names nothing known is an error, even with one name (write `./a=b` for a path that
    begins so). ValueError names an unknown or repeated name."""
    values: Dict[str, str] = {}
    for text in given or ():
        name, sep, value = text.partition("=")
        if not (sep and name in names):
            if sep and _NAME.match(name):
                raise ValueError(f"{flag} {text}: unknown {what} {name!r} (known: {', '.join(names)})")
            if len(names) != 1:
                raise ValueError(f"{flag} {text}: name the {what}, {flag} {what.upper()}=..., one of "
                                 f"{', '.join(names)}")
            name, value = names[0], text
        if name in values:
            raise ValueError(f"{flag} gives {what} {name!r} twice")
        values[name] = value
    return values


def kafka_source_from_args(args: argparse.Namespace, max_out_of_orderness_ms: int, topic: str,
                           group_id: str) -> kafka.KafkaSource:
    return kafka.KafkaSource(
        bootstrap_servers=args.bootstrap_servers,
        topic=topic,
        group_id=group_id,
        start_from=kafka.StartFrom(args.start_from),
        max_out_of_orderness_ms=max_out_of_orderness_ms,
        idle_timeout_ms=duration_flag_ms("--idle-timeout", args.idle_timeout, MAX_IDLE_TIMEOUT_MS, positive=False),
        max_read_ms=duration_flag_ms("--max-read", args.max_read, MAX_POLL_MS),
        idle_poll_ms=duration_flag_ms("--idle-poll", args.idle_poll, MAX_POLL_MS),
    )


def parse_rate(text: Optional[str]) -> Optional[float]:
    """'5000/s' or '5000' -> 5000.0 records a second."""
    if text is None:
        return None
    match = re.match(r"^(\d+(?:\.\d+)?)(?:/s)?$", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"bad rate {text!r}: use records per second, e.g. 5000/s")
    return float(match.group(1))
