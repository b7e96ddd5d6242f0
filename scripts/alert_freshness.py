#!/usr/bin/env python3
"""Measure alert freshness: how long from an attack pushed over HTTP to its firing alert.

Starts `ztlens serve` on a fresh lake with the default detection settings (each rule on its own
schedule: password_spray every minute), pushes password sprays (ten Okta sign-in failures from
one new address each) at random moments, and polls `GET /api/v1/alerts` until each spray's alert
fires. Prints the latency of every trial and the median, p90, p99 and maximum.

    cargo build --release
    python3 scripts/alert_freshness.py --binary target/release/ztlens --trials 30 --spread 600

A benchmark, not a test: the figures go in docs/performance.md with the command that made them.
"""

import argparse
import json
import random
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spray(base, ip):
    now = datetime.now(timezone.utc)
    lines = []
    for i in range(10):
        published = (now - timedelta(seconds=10 - i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append(json.dumps({
            "uuid": f"fresh-{ip}-{i}", "published": published, "eventType": "user.session.start",
            "severity": "WARN", "displayMessage": "User login to Okta",
            "actor": {"id": f"00ufresh{i}", "type": "User", "alternateId": f"fresh{i}@corp.example"},
            "client": {"ipAddress": ip},
            "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
        }))
    request = urllib.request.Request(f"{base}/api/v1/ingest/okta", data="\n".join(lines).encode(),
                                     method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200, response.read()


def firing(base):
    with urllib.request.urlopen(f"{base}/api/v1/alerts?rule=password_spray&limit=10000") as r:
        return {a["entity"]["src_ip"] for a in json.load(r)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/ztlens")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--spread", type=float, default=600, help="seconds over which sprays start")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    lake = tempfile.mkdtemp(prefix="ztlens-freshness-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.binary, "--data-dir", lake, "serve", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        starts = sorted(random.uniform(0, args.spread) for _ in range(args.trials))
        pushed, seen = {}, {}
        began = time.monotonic()

        def pusher():
            for i, offset in enumerate(starts):
                time.sleep(max(0.0, began + offset - time.monotonic()))
                ip = f"203.0.113.{i + 1}"
                pushed[ip] = time.monotonic()
                spray(base, ip)

        thread = threading.Thread(target=pusher)
        thread.start()
        deadline = began + args.spread + 300
        while len(seen) < args.trials and time.monotonic() < deadline:
            now = time.monotonic()
            for ip in firing(base):
                if ip in pushed and ip not in seen:
                    seen[ip] = now - pushed[ip]
            time.sleep(0.25)
        thread.join()
    finally:
        server.terminate()
        server.wait()
    latencies = sorted(seen.values())
    for ip, latency in sorted(seen.items(), key=lambda kv: kv[1]):
        print(f"{ip:16} {latency:6.1f} s")
    if len(latencies) < args.trials:
        print(f"{args.trials - len(latencies)} sprays never raised an alert")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"{len(latencies)} alerts: median {statistics.median(latencies):.1f} s, p90 {q[89]:.1f} s, "
          f"p99 {q[98]:.1f} s, max {latencies[-1]:.1f} s")


if __name__ == "__main__":
    main()
