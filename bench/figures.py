"""The benchmark's figures: rounds combined, and the table printed (bench/run.py)."""

from __future__ import annotations

import argparse
from typing import Any

WARMUP_SECONDS = 2.0


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One server's rounds as one run: throughput over all of them, the worst p99, the mean p50."""
    if len(rounds) == 1:
        return {**rounds[0], "rounds_rps": [rounds[0]["rps"]]}
    requests, elapsed = sum(r["requests"] for r in rounds), sum(r["elapsed"] for r in rounds)
    cpus = [r["server_cpu"] for r in rounds if r["server_cpu"] is not None]
    db_cpus = [r["db_cpu"] for r in rounds if r.get("db_cpu") is not None]
    machine = [r["machine_cpu"] for r in rounds if r.get("machine_cpu") is not None]
    waits = [r["server_wait"] for r in rounds if r.get("server_wait") is not None]
    return {
        "requests": requests,
        "elapsed": elapsed,
        "rps": requests / elapsed,
        "p50_ms": sum(r["p50_ms"] for r in rounds) / len(rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "failures": sum(r["failures"] for r in rounds),
        "server_cpu": sum(cpus) / len(cpus) if cpus else None,
        "db_cpu": sum(db_cpus) / len(db_cpus) if db_cpus else None,
        "machine_cpu": sum(machine) / len(machine) if machine else None,
        "server_wait": sum(waits) / len(waits) if waits else None,
        "client_cpu": sum(r["client_cpu"] for r in rounds) / len(rounds),
        "cpu_seconds": sum(r["cpu_seconds"] for r in rounds),
        "first_failure": next((r["first_failure"] for r in rounds if r["first_failure"]), None),
        "rounds_rps": [r["rps"] for r in rounds],
    }


def report(results: dict[str, dict[str, Any]], kind: str, args: argparse.Namespace, subjects: int) -> None:
    def share(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    print(f"\n{kind}, {args.persons} persons ({subjects} subjects with a consent), "
          f"{args.seconds:g} s after a {WARMUP_SECONDS:g} s warm-up, {args.concurrency} connections"
          + (f", a fixed {args.rate:g} requests/s" if getattr(args, "rate", None) else ""))  # fmt: skip
    db = any(r.get("db_cpu") is not None for r in results.values())
    print(
        f"{'server':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failures':>9} {'server CPU':>11} {'server wait':>12}"
        f" {'client CPU':>11}" + (f" {'db CPU':>8}" if db else "") + f" {'machine CPU':>12}"
    )
    for name, r in results.items():
        print(f"{name:<12} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['failures']:>9} "
              f"{share(r['server_cpu']):>11} {share(r.get('server_wait')):>12} {share(r['client_cpu']):>11}"
              + (f" {share(r.get('db_cpu')):>8}" if db else "") + f" {share(r.get('machine_cpu')):>12}")  # fmt: skip
    for name, r in results.items():
        if len(r["rounds_rps"]) > 1:
            print(f"{name:<12} req/s by round: {' / '.join(f'{x:.0f}' for x in r['rounds_rps'])}")
    print(f"GraphQL / reference throughput: {results['graphql']['rps'] / results['reference']['rps']:.2f}")
    if "postgraphile" in results:
        print(f"GraphQL / PostGraphile throughput: {results['graphql']['rps'] / results['postgraphile']['rps']:.2f}")
    if "no-policy" in results:
        extra = results["no-policy"]["rps"] / results["graphql"]["rps"] - 1
        print(f"the field policy costs {extra:+.0%} time per request (no-policy / graphql throughput - 1)")
    if "no-audit" in results:
        print(
            f"with the audit log on, throughput is {results['graphql']['rps'] / results['no-audit']['rps']:.0%} of it off"
        )
    if "pg-noauth" in results:
        print(f"GraphQL / PostGraphile without tokens: {results['graphql']['rps'] / results['pg-noauth']['rps']:.2f}")
    if "graphql-2w" in results:
        print(f"two workers: {results['graphql-2w']['rps'] / results['graphql']['rps']:.2f} times the throughput of one")
    if "reference-2w" in results:
        ratio = results["reference-2w"]["rps"] / results["reference"]["rps"]
        print(f"the reference with two workers: {ratio:.2f} times its throughput with one (what the machine allows)")
    if "unplanned" in results:
        print(f"planned queries: {results['graphql']['rps'] / results['unplanned']['rps']:.2f} times the throughput of unplanned")
    for name, r in results.items():
        if r["first_failure"]:
            print(f"{name}: first failure: {r['first_failure']}")
