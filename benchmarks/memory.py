"""Peak resident memory of a process and everything it starts (Beam workers, Flink's JVMs), sampled
from /proc, because getrusage sees a child only once it has been waited for."""
import os
import subprocess
import time
from typing import Dict, List, Set

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _parents() -> Dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # the command may hold spaces and parentheses: the fields after its last ")" are fixed
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return parents


def tree_rss_kb(root: int) -> int:
    parents = _parents()
    tree: Set[int] = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * _PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_measured(command: List[str], interval_s: float = 0.2, **popen) -> "tuple[subprocess.CompletedProcess, float]":
    """Run `command` to completion; returns it and the peak RSS of its process tree in MB."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, tree_rss_kb(process.pid))
        time.sleep(interval_s)
    stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), peak_kb / 1024
