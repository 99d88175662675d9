"""What a run did, in numbers that reconcile: records in = dead letters + dropped late + duplicates + counted.

A record dropped for arriving after the allowed lateness never reaches any result, so it is counted
where the watermark is known:
- batch: a bounded input has no late records; the aggregation's `kappa/accepted` counter confirms it
  (`records_in - dead_letters - accepted`);
- replay: the replay plan sets the watermark, so it counts the valid records whose windows had all
  expired on arrival (Beam's direct runner reports metrics of streaming runs incompletely, so replay
  does not rely on them).
For windows that hold each record once (fixed, session) the redeliveries are what remains; sliding
windows hold a record several times, and there both stay unknown.

Final counts come from the written results: in accumulating mode the last (largest) pane of a window
holds its final count, in discarding mode the panes add up to it.
"""
from __future__ import annotations

import collections
import json
import os
from typing import Any, Dict, Iterable, Optional

from kappa.io import writers
from kappa.transforms import metrics
from kappa.transforms.windowing import Accumulation, WindowKind

SUMMARY_FILE = "summary.json"


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


def summarise(request, counters: Dict[str, int], elapsed_s: float, plan=None) -> Dict[str, Any]:
    definition, spec = request.definition, request.effective_spec
    results = list(writers.read_json_lines(request.output_dir, writers.RESULTS))
    finals = final_counts(results, definition.value_field, spec.accumulation)
    counted = sum(f[definition.value_field] for f in finals.values())
    per_key = collections.Counter()
    for final in finals.values():
        per_key[final[definition.key_field]] += final[definition.value_field]

    dead_letters = sum(1 for _ in writers.read_json_lines(request.output_dir, writers.DEAD_LETTERS))
    records_in = plan.records_in if plan is not None else counters.get(metrics.RECORDS_IN, 0)
    dropped_late: Optional[int] = None
    duplicates: Optional[int] = None
    if spec.kind is not WindowKind.SLIDING:
        if plan is not None:
            dropped_late = plan.too_late
        else:
            dropped_late = records_in - dead_letters - counters.get(metrics.ACCEPTED, 0)
        duplicates = records_in - dead_letters - dropped_late - counted
    return {
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
        "counted": counted,
        f"{definition.value_field}_per_{definition.key_field}": dict(sorted(per_key.items())),
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(records_in / elapsed_s) if elapsed_s > 0 else None,
    }


def skipped_files(skipped) -> Dict[str, Any]:
    """How many input files were not read, and the first few with the reason."""
    return {"count": len(skipped), "first": [{"path": s.path, "reason": s.reason} for s in skipped[:5]]}


def write(report: Dict[str, Any], output_dir: str) -> None:
    with open(os.path.join(output_dir, SUMMARY_FILE), "w", encoding="utf-8") as out:
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
    per_key = report[per_key_field]
    width = max([len(k) for k in per_key] + [6])
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
        f"  elapsed      {report['elapsed_s']:>11.1f}s   {report['events_per_s'] or 0:,} events/s",
        f"  {per_key_field.replace('_', ' ')}:",
    ]
    lines += [f"    {key:<{width}} {value:>10,}" for key, value in per_key.items()]
    lines.append(f"  output       {report['output']}")
    skipped = report["skipped_files"]
    if skipped["count"]:
        lines.insert(2, f"  skipped      {skipped['count']:>12,} files: "
                     + "; ".join(f"{s['path']} ({s['reason']})" for s in skipped["first"])
                     + ("; ..." if skipped["count"] > len(skipped["first"]) else ""))
    return "\n".join(lines)
