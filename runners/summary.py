"""What a run did, in numbers that reconcile per input: records in = used + duplicates + dead letters + too late.

Each figure is counted on its own, per input stream, and the run fails a check (exit status 3) when
they do not add up:
- records in and dead letters: batch, what the readers read (their `Tally`); replay, the replay
  plan, which reads the recordings before they are played;
- too late: batch, none (a bounded input's watermark passes nothing before the input ends); replay,
  the plan's count of valid records its watermark had already left behind;
- used and duplicates: the pipeline's own tally (`kappa.pipelines.model.TALLY`), counted where it
  takes records into account. A pipeline that cannot say (sliding windows hold a record several
  times) leaves them unknown, and that input unchecked.
Each output's record count and the figures of the main output (per-key totals, windows: the
pipeline's own, `Pipeline.figures`) are counted in the job too, so no sink is ever read back.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

from kappa.io import writers
from kappa.pipelines.model import MAIN_OUTPUT
from kappa.transforms.tally import DEAD_LETTERS, DUPLICATES, RECORDS_IN, TOO_LATE, USED

FACTS = ".facts"  # the shard of what a bounded job counted, beside its outputs until the summary is written
OUTPUT, RECORDS, FIGURES = "output", "records", "figures"  # a facts line: {OUTPUT, RECORDS} or {FIGURES}


@dataclasses.dataclass
class Facts:
    """What a bounded job counted: per input and measure (its `Tally` lines), records per output, and
    the pipeline's figures of its main output (None when it had no records, or declares none)."""

    counts: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
    outputs: Dict[str, int] = dataclasses.field(default_factory=dict)
    figures: Optional[Dict[str, Any]] = None

    @classmethod
    def of(cls, lines: Iterable[Dict[str, Any]]) -> "Facts":
        facts = cls()
        for line in lines:
            if OUTPUT in line:
                facts.outputs[line[OUTPUT]] = line[RECORDS]
            elif FIGURES in line:
                facts.figures = line[FIGURES]
            else:
                facts.counts.setdefault(line["stream"], {})[line["measure"]] = line["n"]
        return facts


def stream_counts(counts: Mapping[str, Mapping[str, int]], streams) -> Dict[str, Dict[str, Optional[int]]]:
    """Per input: its five figures; used and duplicates None when the pipeline did not count them."""
    figures = {}
    for stream in streams:
        tally = counts.get(stream, {})
        known = USED in tally or DUPLICATES in tally
        figures[stream] = {
            RECORDS_IN: tally.get(RECORDS_IN, 0),
            USED: tally.get(USED, 0) if known else None,
            DUPLICATES: tally.get(DUPLICATES, 0) if known else None,
            DEAD_LETTERS: tally.get(DEAD_LETTERS, 0),
            TOO_LATE: tally.get(TOO_LATE, 0),
        }
    return figures


def _total(streams: Mapping[str, Mapping[str, Optional[int]]], measure: str) -> Optional[int]:
    values = [figures[measure] for figures in streams.values()]
    return None if any(v is None for v in values) else sum(values)


def summarise(request, facts: Facts, elapsed_s: float) -> Dict[str, Any]:
    pipeline, binding = request.effective, request.binding
    outputs = {name: facts.outputs.get(name, 0) for name in pipeline.outputs}
    streams = stream_counts(facts.counts, pipeline.inputs)
    records_in = _total(streams, RECORDS_IN)
    single = len(pipeline.inputs) == 1
    skipped = [s for selection in binding.inputs.values() for s in selection.skipped]
    report: Dict[str, Any] = {
        "pipeline": pipeline.name,
        "runner": request.profile.name,
        "mode": request.mode.value,
        "input": next(iter(binding.patterns.values())) if single else dict(binding.patterns),
        "skipped_files": skipped_files(skipped),
        "output": binding.output_dir,
        "windowing": pipeline.describe_windowing(),
        "records_in": records_in,
        "results_out": outputs[MAIN_OUTPUT],
        "outputs": outputs,
        "dead_letters": _total(streams, DEAD_LETTERS),
        "duplicates": _total(streams, DUPLICATES),
        "too_late": _total(streams, TOO_LATE),
    }
    if pipeline.spec is not None:
        report["dropped_late"] = report["too_late"]  # its name before the late output existed
    report["streams"] = streams
    report.update(_figures_of(pipeline, facts))
    report["elapsed_s"] = round(elapsed_s, 3)
    report["events_per_s"] = round(records_in / elapsed_s) if elapsed_s > 0 else None
    report["failed_check"] = failed_check(report, binding.max_dead_letter_ratio)
    return report


def _figures_of(pipeline, facts: Facts) -> Dict[str, Any]:
    figures_fn = pipeline.figures()
    if figures_fn is None:
        return {}
    return facts.figures if facts.figures is not None else figures_fn.extract_output(figures_fn.create_accumulator())


def failed_check(report: Dict[str, Any], max_dead_letter_ratio: Optional[float]) -> Optional[str]:
    """Why a finished run must still fail (one line), or None: an input's figures do not reconcile, or
    too many records are dead letters (by default: all of them, when there was at least one)."""
    for stream, figures in report["streams"].items():
        if figures[USED] is None:
            continue
        parts = [figures[m] for m in (USED, DUPLICATES, DEAD_LETTERS, TOO_LATE)]
        if figures[RECORDS_IN] != sum(parts):
            return ("the counts of {} do not reconcile: records in {:,} != used {:,} + duplicates {:,} + "
                    "dead letters {:,} + too late {:,} (= {:,})".format(stream, figures[RECORDS_IN], *parts, sum(parts)))
    records_in, dead_letters = report["records_in"], report["dead_letters"]
    where = f"see {os.path.join(report['output'], writers.DEAD_LETTERS)}-*.jsonl"
    if max_dead_letter_ratio is None:
        if records_in and dead_letters == records_in:
            return (f"every record read ({records_in:,}) is a dead letter ({where}; "
                    "--max-dead-letter-ratio sets how many may be)")
    elif dead_letters > max_dead_letter_ratio * records_in:
        return (f"{dead_letters:,} of {records_in:,} records are dead letters ({dead_letters / records_in:.1%}), "
                f"more than --max-dead-letter-ratio {max_dead_letter_ratio:g} allows ({where})")
    return None


def skipped_files(skipped) -> Dict[str, Any]:
    """How many input files were not read, and the first few with the reason."""
    return {"count": len(skipped), "first": [{"path": s.path, "reason": s.reason} for s in skipped[:5]]}


def write(report: Dict[str, Any], output_dir: str) -> None:
    with open(os.path.join(output_dir, writers.SUMMARY), "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2)
        out.write("\n")


def stream_summary(request, state: str) -> Dict[str, Any]:
    """A streaming job has no totals at its end; this says where it runs and where its output goes."""
    binding = request.binding
    kafka_url = f"kafka://{binding.bootstrap_servers}/"
    return {
        "pipeline": request.pipeline.name,
        "runner": request.profile.name,
        "mode": request.mode.value,
        "state": state,
        "job_name": request.profile.job_name,
        "windowing": request.effective.describe_windowing(),
        "inputs": {stream: kafka_url + source.topic for stream, source in binding.sources.items()},
        "outputs": {name: kafka_url + topic for name, topic in binding.output_topics.items()},
        "dead_letters": kafka_url + binding.dead_letter_topic,
        "late": kafka_url + binding.late_topic,
    }


_STREAM_COLUMNS = ((RECORDS_IN, "records in"), (USED, "used"), (DUPLICATES, "duplicates"),
                   (DEAD_LETTERS, "dead letters"), (TOO_LATE, "too late"))


def render(report: Dict[str, Any]) -> str:
    """A summary a person reads at a glance after `make run`."""
    if report["mode"] == "stream":
        lines = [f"{report['pipeline']} | stream on {report['runner']} | {report['windowing']}"]
        for key in ("state", "job_name", "inputs", "outputs", "dead_letters", "late"):
            value = report[key]
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
            lines.append(f"  {key.replace('_', ' '):<12} {shown}")
        return "\n".join(lines)

    def number(value: Optional[int]) -> str:
        return "n/a" if value is None else f"{value:,}"

    inputs = report["input"]
    lines = [f"{report['pipeline']} | {report['mode']} on {report['runner']} | {report['windowing']}",
             f"  input        {inputs if isinstance(inputs, str) else ', '.join(f'{k}={v}' for k, v in inputs.items())}"]
    skipped = report["skipped_files"]
    if skipped["count"]:
        lines.append(f"  skipped      {skipped['count']:>12,} files: "
                     + "; ".join(f"{s['path']} ({s['reason']})" for s in skipped["first"])
                     + ("; ..." if skipped["count"] > len(skipped["first"]) else ""))
    streams = report["streams"]
    if len(streams) == 1:
        [figures] = streams.values()
        lines += [f"  {title:<12} {number(figures[measure]):>12}" for measure, title in _STREAM_COLUMNS]
    else:
        lines.append("  " + f"{'':<12}" + "".join(f"{title:>14}" for _, title in _STREAM_COLUMNS))
        lines += [f"  {_printable(stream):<12}" + "".join(f"{number(figures[m]):>14}" for m, _ in _STREAM_COLUMNS)
                  for stream, figures in streams.items()]
    lines.append("  outputs      " + ", ".join(f"{name} {n:,}" for name, n in report["outputs"].items()))
    tables = []
    for name, value in _figures(report).items():
        label = name.replace("_", " ")
        if isinstance(value, dict):
            tables += [f"  {label}:", *per_key_table(value)]
        elif name.endswith("window_start"):  # a window's start: also in UTC
            if value is not None:
                lines.append(f"  {label.removesuffix(' start'):<12} {_utc(value)}   {value}")
        else:
            lines.append(f"  {label:<12} {number(value):>12}")
    lines.append(f"  elapsed      {report['elapsed_s']:>11.1f}s   {report['events_per_s'] or 0:,} events/s")
    lines += tables
    lines.append(f"  output       {report['output']}")
    return "\n".join(lines)


_GENERIC = {"pipeline", "runner", "mode", "input", "skipped_files", "output", "windowing", "records_in", "results_out",
            "outputs", "dead_letters", "duplicates", "too_late", "dropped_late", "streams", "elapsed_s",
            "events_per_s", "failed_check"}


def _figures(report: Dict[str, Any]) -> Dict[str, Any]:
    """The pipeline's own figures, in the order it gave them."""
    return {k: v for k, v in report.items() if k not in _GENERIC}


def _utc(epoch_ms: int) -> str:
    """A window start as UTC ISO-8601, to the second (windows start on whole seconds)."""
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment.microsecond == 0 else moment.isoformat()


KEY_WIDTH = 24  # longer keys are cut, with an ellipsis
TABLE_ROWS = 50  # summary.json holds every key


def per_key_table(per_key: Dict[str, int]) -> List[str]:
    """One row per key, aligned whatever the keys hold: characters that do not print (newlines,
    zero-width spaces) are escaped, long keys shortened; past TABLE_ROWS keys, how many more."""
    keys = [_printable(key) for key in per_key]
    width = max([len(k) for k in keys] + [6])
    rows = [f"    {key:<{width}} {value:>10,}" for key, value in zip(keys, per_key.values())]
    if len(rows) > TABLE_ROWS:
        rows = rows[:TABLE_ROWS] + [f"    ... and {len(rows) - TABLE_ROWS:,} more (summary.json has them all)"]
    return rows


def _printable(key: str) -> str:
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in key)
    return shown if len(shown) <= KEY_WIDTH else shown[:KEY_WIDTH - 1] + "\u2026"
