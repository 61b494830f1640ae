#!/usr/bin/env python3
"""Checks the shape of a sonar-bench JSON result (used by the bench smoke tests).

Usage: check_result.py RESULT.json

Fails (exit 1, with the reason) unless the file parses, carries the two ratios and the
machine's disk writes (ingest and each query window), and each query window has its warm-up
calls and its slowest answers: at most 20, in the order they were due, and the slowest answer
of every kind among them when it is slower than the least of them.
"""
import json
import sys

KINDS = ["live_counts_region", "report_provisional_region", "report_provisional_national",
         "report_published_region", "report_published_national"]


def fail(message):
    sys.exit(f"check_result: {message}")


def check_window(name, window):
    warm = window.get("warm_up_ms")
    if not isinstance(warm, dict) or set(warm) != set(KINDS + ["tcp_round_trip"]):
        fail(f"{name}.warm_up_ms: expected one entry per query kind and the echo, got {warm!r}")
    if not all(isinstance(v, (int, float)) and v > 0 for v in warm.values()):
        fail(f"{name}.warm_up_ms: every warm-up call must have taken some time: {warm!r}")
    if not isinstance(window.get("disk_write_mib_per_s"), (int, float)) or \
            window["disk_write_mib_per_s"] < 0:
        fail(f"{name}.disk_write_mib_per_s: missing or negative")
    slowest = window.get("slowest")
    if not isinstance(slowest, list):
        fail(f"{name}.slowest: missing")
    answers = sum(window[k]["count"] for k in KINDS + ["tcp_round_trip"])
    if len(slowest) != min(20, answers):
        fail(f"{name}.slowest: {len(slowest)} entries for {answers} answers")
    times = [a["at_s"] for a in slowest]
    if times != sorted(times):
        fail(f"{name}.slowest: not in the order the answers were due")
    for a in slowest:
        if a["what"] not in KINDS + ["tcp_round_trip"]:
            fail(f"{name}.slowest: unknown kind {a['what']!r}")
    # The slowest answers include the slowest of every kind.
    for k in KINDS + ["tcp_round_trip"]:
        if window[k]["count"] and slowest and window[k]["max_ms"] > min(a["ms"] for a in slowest):
            if not any(a["what"] == k and abs(a["ms"] - window[k]["max_ms"]) < 1e-3
                       for a in slowest):
                fail(f"{name}.slowest: the slowest {k} ({window[k]['max_ms']} ms) is missing")


def main():
    if len(sys.argv) != 2:
        fail("usage: check_result.py RESULT.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        result = json.load(f)
    for key in ("ratio_ingest_vs_copy", "ratio_ingest_vs_naive"):
        if key not in result:
            fail(f"{key} missing")
    if not result["ingest"].get("disk_write_mib_per_s", -1) >= 0:
        fail("ingest.disk_write_mib_per_s: missing or negative")
    check_window("queries", result["queries"])
    if result["queries_without_ingest"]["window_seconds"] > 0:
        check_window("queries_without_ingest", result["queries_without_ingest"])
    print(f"check_result: {sys.argv[1]} has the expected shape")


if __name__ == "__main__":
    main()
