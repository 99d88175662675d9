"""What a run did, in numbers that reconcile: records in = counted + duplicates + dead letters + dropped late.

Each figure is counted on its own, and the run fails a check (exit status 3) when they do not add up:
- records in: batch, the readers' `kappa/records_in` counter; replay, the replay plan, which reads the
  recording before it is played (Beam's direct runner reports metrics of streaming runs incompletely);
- counted: the final counts in the written results; dead letters: the lines of the dead-letter files;
- duplicates: batch, the aggregation's counters, `kappa/accepted - kappa/counted`; replay, the records
  its plan sent into the stream less those counted (the check then shows that no window counted
  more than was sent);
- dropped late: batch, none (a bounded input's watermark passes no window before the input ends);
  replay, the plan's count of valid records whose windows had all expired on arrival, since it sets
  the watermark.
Sliding windows hold a record several times, so there duplicates and drops stay unknown, unchecked.

Final counts come from the written results: in accumulating mode the last (largest) pane of a window
holds its final count, in discarding mode the panes add up to it.
"""
from __future__ import annotations

import collections
import datetime
import json
import os
from typing import Any, Dict, Iterable, List, NamedTuple, Optional

from kappa.io import writers
from kappa.transforms import metrics
from kappa.transforms.windowing import Accumulation, WindowKind


class Tally(NamedTuple):
    """What a run's source and aggregation counted, apart from what it wrote."""

    records_in: int
    dropped_late: int
    accepted: int  # valid records taken into windows, redeliveries included
    counted: Optional[int] = None  # distinct records, as the aggregation counted them; None: from the results


def batch_tally(counters: Dict[str, int]) -> Tally:
    return Tally(records_in=counters.get(metrics.RECORDS_IN, 0), dropped_late=0,
                 accepted=counters.get(metrics.ACCEPTED, 0), counted=counters.get(metrics.COUNTED, 0))


def replay_tally(plan) -> Tally:
    """From the `ReplayPlan`: it reads every record before the replay, sets the watermark and sends
    the records that are not too late."""
    return Tally(records_in=plan.records_in, dropped_late=plan.too_late, accepted=plan.sent)


def final_counts(results: Iterable[dict], value_field: str, accumulation: Accumulation) -> Dict[str, dict]:
    """Window key -> the window's final result (its pane fields dropped)."""
    finals: Dict[str, dict] = {}
    for result in results:
        current = finals.get(result["key"])
        if current is None:
            finals[result["key"]] = dict(result)
        elif accumulation is Accumulation.ACCUMULATING:
            current[value_field] = max(current[value_field], result[value_field])
        else:
            current[value_field] += result[value_field]
    for final in finals.values():
        final.pop("timing", None)
        final.pop("is_last", None)
    return finals


def summarise(request, tally: Tally, elapsed_s: float) -> Dict[str, Any]:
    definition, spec = request.definition, request.effective_spec
    results = list(writers.read_json_lines(request.output_dir, writers.RESULTS))
    finals = final_counts(results, definition.value_field, spec.accumulation)
    counted = sum(f[definition.value_field] for f in finals.values())
    per_key = collections.Counter()
    for final in finals.values():
        per_key[final[definition.key_field]] += final[definition.value_field]
    window_starts = [final["window_start"] for final in finals.values()]

    dead_letters = sum(1 for _ in writers.read_json_lines(request.output_dir, writers.DEAD_LETTERS))
    records_in = tally.records_in
    dropped_late: Optional[int] = None
    duplicates: Optional[int] = None
    if spec.kind is not WindowKind.SLIDING:
        dropped_late = tally.dropped_late
        duplicates = tally.accepted - (counted if tally.counted is None else tally.counted)
    report = {
        "pipeline": definition.name,
        "runner": request.profile.name,
        "mode": request.mode.value,
        "input": request.input_pattern,
        "skipped_files": skipped_files(request.inputs.skipped if request.inputs else ()),
        "output": request.output_dir,
        "windowing": spec.describe(),
        "records_in": records_in,
        "results_out": len(results),
        "dead_letters": dead_letters,
        "duplicates": duplicates,
        "dropped_late": dropped_late,
        "windows": len(finals),
        "first_window_start": min(window_starts, default=None),
        "last_window_start": max(window_starts, default=None),
        "counted": counted,
        f"{definition.value_field}_per_{definition.key_field}": dict(sorted(per_key.items())),
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(records_in / elapsed_s) if elapsed_s > 0 else None,
    }
    report["failed_check"] = failed_check(report, request.max_dead_letter_ratio)
    return report


def failed_check(report: Dict[str, Any], max_dead_letter_ratio: Optional[float]) -> Optional[str]:
    """Why a finished run must still fail (one line), or None: its figures do not reconcile, or too
    many records are dead letters (by default: all of them, when there was at least one)."""
    records_in, dead_letters = report["records_in"], report["dead_letters"]
    if report["duplicates"] is not None:
        parts = (report["counted"], report["duplicates"], dead_letters, report["dropped_late"])
        if records_in != sum(parts):
            return ("the counts do not reconcile: records in {:,} != counted {:,} + duplicates {:,} + "
                    "dead letters {:,} + dropped late {:,} (= {:,})".format(records_in, *parts, sum(parts)))
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
    endpoints = request.kafka
    return {
        "pipeline": request.definition.name,
        "runner": request.profile.name,
        "mode": request.mode.value,
        "state": state,
        "job_name": request.profile.job_name,
        "windowing": request.effective_spec.describe(),
        "input": f"kafka://{endpoints.source.bootstrap_servers}/{endpoints.source.topic}",
        "output": f"kafka://{endpoints.source.bootstrap_servers}/{endpoints.output_topic}",
        "dead_letters": f"kafka://{endpoints.source.bootstrap_servers}/{endpoints.dead_letter_topic}",
    }


def render(report: Dict[str, Any]) -> str:
    """A summary a person reads at a glance after `make run`."""
    if report["mode"] == "stream":
        return "\n".join([f"{report['pipeline']} | stream on {report['runner']} | {report['windowing']}"]
                         + [f"  {key:<12} {report[key]}" for key in
                            ("state", "job_name", "input", "output", "dead_letters")])
    per_key_field = next(k for k in report if "_per_" in k)

    def number(value: Optional[int]) -> str:
        return "n/a (sliding)" if value is None else f"{value:,}"

    lines = [
        f"{report['pipeline']} | {report['mode']} on {report['runner']} | {report['windowing']}",
        f"  input        {report['input']}",
        f"  records in   {report['records_in']:>12,}",
        f"  counted      {report['counted']:>12,}",
        f"  duplicates   {number(report['duplicates']):>12}",
        f"  dead letters {report['dead_letters']:>12,}",
        f"  dropped late {number(report['dropped_late']):>12}",
        f"  windows      {report['windows']:>12,}   results out {report['results_out']:,}",
    ]
    if report["windows"]:
        lines += [f"  first window {_utc(report['first_window_start'])}   {report['first_window_start']}",
                  f"  last window  {_utc(report['last_window_start'])}   {report['last_window_start']}"]
    lines += [
        f"  elapsed      {report['elapsed_s']:>11.1f}s   {report['events_per_s'] or 0:,} events/s",
        f"  {per_key_field.replace('_', ' ')}:",
    ]
    lines += per_key_table(report[per_key_field])
    lines.append(f"  output       {report['output']}")
    skipped = report["skipped_files"]
    if skipped["count"]:
        lines.insert(2, f"  skipped      {skipped['count']:>12,} files: "
                     + "; ".join(f"{s['path']} ({s['reason']})" for s in skipped["first"])
                     + ("; ..." if skipped["count"] > len(skipped["first"]) else ""))
    return "\n".join(lines)


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
