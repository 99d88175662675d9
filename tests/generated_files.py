"""What the generator tests read back from an archive: its files, each file's records as a reader hands
them to the parser, and those records parsed with a contract."""
import json
import os
import subprocess
import sys
from typing import Any, List, Optional, Sequence

import fastavro

from kappa.io.contracts import InvalidRecord, contract


def files(*folder) -> List[str]:
    path = os.path.join(*map(str, folder))
    return sorted(os.path.join(path, name) for name in os.listdir(path))


def raw(path: str) -> list:
    """Each record of a file as a reader hands it to the parser: a JSON line's bytes, or an Avro record."""
    if path.endswith(".jsonl"):
        return [line.rstrip(b"\n") for line in open(path, "rb")]
    with open(path, "rb") as f:
        return list(fastavro.reader(f))


def json_or_none(line: bytes) -> Optional[Any]:
    try:
        return json.loads(line)
    except ValueError:
        return None


def parsed(records: list, subject: str) -> list:
    """Each record parsed with the subject's contract (against the wall clock), None where it breaks it."""
    parser = contract(subject).parser()
    found = []
    for record in records:
        try:
            found.append(parser.parse(record))
        except InvalidRecord:
            found.append(None)
    return found


def assert_same_bytes_whatever_the_hash_seed(script: str, root, tmp_path, streams: Sequence[str] = ("",)) -> None:
    """`script` (python -c, writing the archive in the formats given after its output folder) under hash
    seeds 1 and 2 writes the same files, byte for byte, as `root/<format>/<stream>` holds: hash seeds
    iterate fastavro's sets of schema properties in different orders."""
    for hash_seed, formats in (("1", ["jsonl", "avro"]), ("2", ["avro"])):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed), *formats],
                              env={**os.environ, "PYTHONHASHSEED": hash_seed}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2_000:]
        for fmt in formats:
            for stream in streams:
                ours, theirs = files(root, fmt, stream), files(tmp_path / hash_seed, fmt, stream)
                assert [os.path.basename(f) for f in ours] == [os.path.basename(f) for f in theirs]
                for a, b in zip(ours, theirs):
                    assert open(a, "rb").read() == open(b, "rb").read(), (hash_seed, a)
