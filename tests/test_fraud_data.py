"""The fraud-scoring data side: the generated archives, the plain-Python reference on hand-made cases,
and the bare-Python limit against that reference."""
import collections
import itertools
import json
import os
import sys

import fastavro
import pytest

from kappa.benchmarks import avro_archive, fraud_limit
from kappa.io import generate_fraud
from kappa.io.schema_registry import SchemaRegistry
from tests import fraud_reference as reference
from tests import generated_files

CONFIG = generate_fraud.FraudConfig(payments=3_000, hours=2, seed=11, duplicate_rate=0.02, malformed=12)
STREAMS = {"payments": ("payment", reference.valid_payment, "merchant_id"),
           "devices": ("device", reference.valid_device, "user_agent")}
T = 1_795_737_600_000  # 2026-11-27T00:00:00Z
SECOND, MINUTE, HOUR = 1_000, 60_000, 3_600_000


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud")
    written = {fmt: generate_fraud.write_fraud_archive(CONFIG, str(root / fmt), fmt) for fmt in ("jsonl", "avro")}
    return root, written


def _lines(path):
    """Each line of a JSON Lines file, parsed, or None where it is not JSON."""
    parsed = []
    for line in open(path, encoding="utf-8"):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    return parsed


def _avro(path):
    """Each record of an Avro file, read with its writer's schema, event_time back in epoch ms."""
    with open(path, "rb") as f:
        return [{**r, "event_time": (r["event_time"] - avro_archive.EPOCH) // avro_archive.MILLISECOND}
                for r in fastavro.reader(f)]


def _files(root, fmt, stream):
    return sorted(os.path.join(root, fmt, stream, name) for name in os.listdir(os.path.join(root, fmt, stream)))


def test_same_seed_same_bytes_whatever_the_hash_seed(archives, tmp_path):
    """Hash seeds 1 and 2 iterate fastavro's set of optional field properties in different orders."""
    root, _ = archives
    script = ("import sys; from kappa.io import generate_fraud as g; "
              "[g.write_fraud_archive(g.FraudConfig(payments=3_000, hours=2, seed=11, duplicate_rate=0.02, "
              "malformed=12), sys.argv[1] + '/' + fmt, fmt) for fmt in sys.argv[2:]]")
    generated_files.assert_same_bytes_whatever_the_hash_seed(script, root, tmp_path, STREAMS)


def test_archive_counts_and_files(archives):
    root, written = archives
    for fmt, archive in written.items():
        assert (archive.payments.records, archive.payments.duplicates, archive.payments.malformed) == (3_050, 50, 12)
        assert (archive.devices.records, archive.devices.duplicates, archive.devices.malformed) == (2_192, 39, 12)
        assert [os.path.basename(f) for f in archive.payments.files] == [
            f"payments-20261127-0{h}.{fmt}" for h in range(3)]
        assert [os.path.basename(f) for f in archive.devices.files] == [
            f"devices-20261127-0{h}.{fmt}" for h in range(2)]
        assert archive.payments.files == _files(root, fmt, "payments")


def test_both_formats_carry_the_same_records_and_the_same_breakages(archives):
    root, _ = archives
    for stream, (_, valid, optional) in STREAMS.items():
        for jsonl, avro in zip(_files(root, "jsonl", stream), _files(root, "avro", stream)):
            texts, records = _lines(jsonl), _avro(avro)
            assert [valid(r) is not None for r in texts] == [valid(r) is not None for r in records]
            for text, record in zip(texts, records):
                if valid(text) is not None:  # a v2 file gives a redelivered v1 record its default
                    assert {optional: None, **text} == {optional: None, **record}


def test_avro_files_of_the_later_hours_are_v2_and_carry_its_field(archives):
    root, _ = archives
    registry = SchemaRegistry()
    for stream, (subject, _, optional) in STREAMS.items():
        versions, filled = [], []
        for path in _files(root, "avro", stream):
            with open(path, "rb") as f:
                schema = fastavro.reader(f).writer_schema
            versions.append(next(v for v in (1, 2) if [x["name"] for x in registry.get(subject, v)["fields"]]
                                 == [x["name"] for x in schema["fields"]]))
            filled.append(sum(1 for r in _avro(path) if r.get(optional) is not None))
        assert versions == ([1, 2, 2] if stream == "payments" else [1, 2])
        assert filled[0] == 0 and all(filled[1:])


def test_redeliveries_are_identical_and_malformed_records_as_configured(archives):
    root, written = archives
    for fmt, read in (("jsonl", _lines), ("avro", _avro)):
        for stream, (_, valid, optional) in STREAMS.items():
            records = [r for path in _files(root, fmt, stream) for r in read(path)]
            good = [{optional: None, **r} for r in records if valid(r) is not None]
            copies = collections.Counter(json.dumps(r, sort_keys=True) for r in good)
            assert len(records) - len(good) == getattr(written[fmt], stream).malformed == 12
            assert sum(n - 1 for n in copies.values()) == getattr(written[fmt], stream).duplicates
        payments = [r for path in _files(root, fmt, "payments") for r in read(path)
                    if reference.valid_payment(r) is not None]
        assert len({p["payment_id"] for p in payments}) == 3_000 - 12
    broken = [r for path in _files(root, "jsonl", "payments") for r in _lines(path)
              if reference.valid_payment(r) is None]
    assert None in broken and any(isinstance(r, dict) for r in broken)  # bad JSON, and contract breaks


def test_every_rule_fires_and_alerts_exist(archives):
    root, _ = archives
    scored = reference.score(reference.valid_payments(_files(root, "jsonl", "payments")),
                             reference.valid_devices(_files(root, "jsonl", "devices")))
    assert len(scored) == 2_988
    assert collections.Counter(r for record in scored.values() for r in record["reasons"]) == {
        "country_mismatch": 173, "unknown_device": 143, "account_mismatch": 79, "amount_spike": 48, "velocity": 44}
    assert sum(record["alert"] for record in scored.values()) == 97


def test_arrivals_keep_within_max_delay_and_are_out_of_event_time_order(tmp_path):
    capped = generate_fraud.FraudConfig(payments=2_000, hours=1, seed=3, straggler_rate=0.05, duplicate_rate=0.05,
                                        max_delay_ms=1_500)
    uncapped = generate_fraud.FraudConfig(payments=2_000, hours=1, seed=3, straggler_rate=0.05, duplicate_rate=0.05)
    for config, longest in ((capped, {"payments": 1_500, "devices": 1_500}),
                            (uncapped, {"payments": 178_099, "devices": 172_017})):
        for stream, arrived in generate_fraud.fraud_arrivals(config, as_text=False).items():
            delays = [arrival - record["event_time"] for arrival, record in arrived.timed]
            assert min(delays) >= 0 and max(delays) == longest[stream]
            assert [a for a, _ in arrived.timed] == sorted(a for a, _ in arrived.timed)
    generate_fraud.write_fraud_archive(capped, str(tmp_path / "jsonl"), "jsonl")
    for stream, (_, valid, _) in STREAMS.items():
        times = [r["event_time"] for path in _files(tmp_path, "jsonl", stream) for r in _lines(path) if valid(r)]
        assert all(t >= latest - 1_500 for t, latest in zip(times, itertools.accumulate(times, max)))
        assert times != sorted(times)


def payment(payment_id, at, amount=10.0, account="a1", device="d1", country="DE"):
    return {"payment_id": payment_id, "account_id": account, "device_id": device, "amount": amount,
            "country": country, "event_time": at}


def login(at, device="d1", account="a1", country="DE"):
    return {"device_id": device, "account_id": account, "ip_country": country, "event_time": at}


def scored(p, score, reasons, alert=False):
    return {"key": p["payment_id"], "payment_id": p["payment_id"], "account_id": p["account_id"],
            "device_id": p["device_id"], "amount": p["amount"], "event_time": p["event_time"],
            "score": score, "reasons": reasons, "alert": alert}


def _device_window():
    inside, outside, at_once, after = (payment(f"p{i}", T, device=f"d{i}") for i in range(4))
    devices = [login(T - 30 * MINUTE, "d0"), login(T - 30 * MINUTE - 1, "d1"), login(T, "d2"), login(T + 1, "d3")]
    return [inside, outside, at_once, after], devices, [
        scored(inside, 0, []), scored(outside, 40, ["unknown_device"]), scored(at_once, 0, []),
        scored(after, 40, ["unknown_device"])]


def _ties():
    by_account, by_country, later = (payment(f"p{i}", T, device=f"d{i}") for i in range(3))
    devices = [login(T - MINUTE, "d0", "a1", "FR"), login(T - MINUTE, "d0", "a2", "DE"),  # (a2, DE) wins
               login(T - MINUTE, "d1", "a1", "DE"), login(T - MINUTE, "d1", "a1", "FR"),  # (a1, FR) wins
               login(T - 2 * MINUTE, "d2", "a9", "SE"), login(T - MINUTE, "d2", "a1", "DE")]  # the later wins
    return [by_account, by_country, later], devices, [
        scored(by_account, 30, ["account_mismatch"]), scored(by_country, 20, ["country_mismatch"]),
        scored(later, 0, [])]


def _velocity():
    three = [payment(f"p{i}", T + dt, device="d0") for i, dt in enumerate((-59_999, -30_000, 0))]
    four = [payment(f"q{i}", T + dt, device="d1") for i, dt in enumerate((-59_999, -40_000, -20_000, 0))]
    edge = [payment(f"r{i}", T + dt, device="d2") for i, dt in enumerate((-60_000, -40_000, -20_000, 0))]
    devices = [login(T - 2 * MINUTE, device) for device in ("d0", "d1", "d2")]
    return three + four + edge, devices, (
        [scored(p, 0, []) for p in three + four[:3]] + [scored(four[3], 25, ["velocity"])]
        + [scored(p, 0, []) for p in edge])


def _amount_spike():
    def history(prefix, *ats):
        return [payment(f"{prefix}{i}", T + at, account=prefix, device=prefix) for i, at in enumerate(ats)]

    def then(payment_id, amount):
        return payment(payment_id, T, amount, account=payment_id[0], device=payment_id[0])

    two = history("a", -2 * HOUR, -HOUR) + [then("a-spike", 100.0)]
    three = history("b", -3 * HOUR, -2 * HOUR, -HOUR) + [then("b-spike", 51.0)]
    five_times = history("c", -3 * HOUR, -2 * HOUR, -HOUR) + [then("c-spike", 50.0)]
    closed_left = history("d", -24 * HOUR, -2 * HOUR, -HOUR) + [then("d-same-ms", 1_000.0), then("d-spike", 100.0)]
    out_left = history("e", -24 * HOUR - 1, -2 * HOUR, -HOUR) + [then("e-spike", 100.0)]
    unknown, spike = (40, ["unknown_device"]), (70, ["amount_spike", "unknown_device"], True)
    payments = two + three + five_times + closed_left + out_left
    spikes = {"b-spike", "d-same-ms", "d-spike"}
    return payments, [], [scored(p, *(spike if p["payment_id"] in spikes else unknown)) for p in payments]


def _redelivered():
    burst = [payment("p1", T - 30 * SECOND)] * 3 + [payment("p2", T - 10 * SECOND), payment("p3", T)]
    def elsewhere(payment_id, at, amount=10.0):
        return payment(payment_id, at, amount, account="a2", device="d2")

    history = [elsewhere("h1", T - 2 * HOUR)] * 3 + [elsewhere("h2", T - HOUR), elsewhere("h3", T, 100.0)]
    unknown = (40, ["unknown_device"])
    return burst + history, [login(T - MINUTE)], (
        [scored(p, 0, []) for p in burst[2:]] + [scored(p, *unknown) for p in history[2:]])


def _malformed_left_out():
    valid = [payment("p1", T, device="d1"), payment("p2", T - 20 * SECOND, device="d2"),
             payment("p3", T - 10 * SECOND, device="d2"), payment("p4", T, device="d2")]
    broken = [payment("p5", T - 5 * SECOND, 0.0, device="d2"), payment("p6", T - 5 * SECOND, account=" ", device="d2"),
              payment("", T - 5 * SECOND, device="d2"), payment("p7", T - 5 * SECOND, country="de", device="d2")]
    devices = [login(T - MINUTE, "d1", country="de"), login(T - MINUTE, "d1", account=""), login(T - MINUTE, "d2")]
    return valid + broken, devices, [scored(valid[0], 40, ["unknown_device"])] + [scored(p, 0, []) for p in valid[1:]]


CASES = {"device window edges": _device_window, "ties on event time": _ties, "velocity": _velocity,
         "amount spike": _amount_spike, "redelivered payments count once": _redelivered,
         "malformed records are left out": _malformed_left_out}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_reference_scores_hand_made_cases_exactly(case):
    payments, devices, expected = case()
    valid_payments = [p for p in map(reference.valid_payment, payments) if p is not None]
    valid_devices = [d for d in map(reference.valid_device, devices) if d is not None]
    assert reference.score(valid_payments, valid_devices) == {record["key"]: record for record in expected}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_limit_scores_hand_made_cases_exactly(case, tmp_path):
    payments, devices, expected = case()
    registry = SchemaRegistry()
    for name, subject, records in (("payments.avro", "payment", payments), ("devices.avro", "device", devices)):
        with open(tmp_path / name, "wb") as out:
            fastavro.writer(out, registry.get(subject, 1), records)
    assert fraud_limit.score_archive([tmp_path / "payments.avro"], [tmp_path / "devices.avro"]) == {
        record["key"]: record for record in expected}


def test_limit_on_the_avro_archive_equals_the_reference_on_the_jsonl_one(archives):
    root, _ = archives
    expected = reference.score(reference.valid_payments(_files(root, "jsonl", "payments")),
                               reference.valid_devices(_files(root, "jsonl", "devices")))
    assert fraud_limit.score_archive(_files(root, "avro", "payments"), _files(root, "avro", "devices")) == expected
