#!/usr/bin/env python3
"""Measure event -> KPI freshness over HTTP or Kafka: from one Okta event sent to the moment a KPI counts it.

Starts `ztlens serve` on a free loopback port with a fresh temporary lake (default settings, no
API tokens, so the loopback API is open). Then, --samples times: reads the `access_decisions` KPI
(decision=allow, source=okta), sends one Okta `user.session.start` SUCCESS event (fresh uuid,
published now), and polls the KPI every --poll seconds until its `value.events` has grown by
one. Prints p50/p90/p99/max in ms of

  freshness     t1 - t0: t0 just before the event is sent, t1 when a KPI answer first counts it
  push latency  t0 to the push's 200 (the records are durable in the write-ahead log by then),
                or with --kafka to the broker's acknowledgement of the produced message
  KPI query     every poll's round trip (the floor under freshness)

and exits 1 if an event was not counted within --timeout seconds.

Over HTTP the event is pushed to `POST /api/v1/ingest/okta`. With --kafka, `ztlens kafka-mock`
(librdkafka's mock cluster, in its own process) holds a topic `okta` of one partition, `serve`
consumes it with the default [kafka] settings (batch_wait_ms 100), and each event is produced as
one message with confluent-kafka (`python3 -m pip install confluent-kafka==2.16.2`); one event
produced and counted before the samples lets the consumer join its group first.

    python3 scripts/freshness.py --binary target/release/ztlens --samples 200
    python3 scripts/freshness.py --binary target/release/ztlens --samples 200 --kafka
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def okta_event():
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "uuid": str(uuid.uuid4()), "published": now, "eventType": "user.session.start",
        "version": "0", "severity": "INFO", "legacyEventType": "core.user_auth.login_success",
        "displayMessage": "User login to Okta",
        "actor": {"id": "00u1alice", "type": "User", "alternateId": "alice@corp.example",
                  "displayName": "Alice Archer"},
        "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "SAFARI"},
                   "device": "Computer", "ipAddress": "198.51.100.7",
                   "geographicalContext": {"city": "Berlin", "country": "Germany"}},
        "authenticationContext": {"externalSessionId": "102sess0001"},
        "outcome": {"result": "SUCCESS", "reason": None},
        "transaction": {"type": "WEB", "id": "txn-fresh"},
    }


def request(url, data=None):
    """(status, parsed JSON body); waits out a 429 and asks again."""
    while True:
        req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/x-ndjson"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            time.sleep(float(e.headers.get("Retry-After") or 0.1))


def stop(process, sig, timeout):
    """Ask `process` to stop with `sig`; kill it if it is still running after `timeout` s."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def report(name, seconds):
    ms = [s * 1000 for s in seconds]
    print(f"{name:13} n={len(ms):5}  p50 {pct(ms, 50):8.1f}  p90 {pct(ms, 90):8.1f}  "
          f"p99 {pct(ms, 99):8.1f}  max {max(ms):8.1f}  mean {statistics.fmean(ms):8.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/ztlens")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between KPI polls")
    parser.add_argument("--timeout", type=float, default=30, help="seconds an event may take")
    parser.add_argument("--kafka", action="store_true",
                        help="send each event as a Kafka message instead of an HTTP push")
    parser.add_argument("--kafka-property", action="append", default=[], metavar="KEY=VALUE",
                        help="with --kafka: a librdkafka consumer property for [kafka.properties] "
                             "(repeatable), e.g. fetch.wait.max.ms=50")
    args = parser.parse_args()
    if args.kafka:
        try:
            import confluent_kafka
        except ImportError:
            sys.exit("--kafka needs confluent-kafka: python3 -m pip install confluent-kafka==2.16.2")

    lake = tempfile.mkdtemp(prefix="ztlens-freshness-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZTLENS_")}
    binary = os.path.abspath(args.binary)
    mock, producer = None, None
    serve_args = []
    if args.kafka:
        mock = subprocess.Popen([binary, "kafka-mock", "--topic", "okta:1"], cwd=lake, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = mock.stdout.readline()
        if not line.startswith("bootstrap: "):
            mock.kill()
            sys.exit(f"ztlens kafka-mock did not print its bootstrap address: {line!r}")
        bootstrap = line.split(" ", 1)[1].strip()
        with open(os.path.join(lake, "ztlens.toml"), "w") as f:
            f.write(f'[kafka]\nenabled = true\nbootstrap_servers = "{bootstrap}"\n'
                    'group_id = "freshness"\nstart_from = "earliest"\n'
                    'topics = [{ name = "okta", format = "okta" }]\n')
            if args.kafka_property:
                f.write("[kafka.properties]\n")
                for prop in args.kafka_property:
                    key, _, value = prop.partition("=")
                    f.write(f'"{key.strip()}" = "{value.strip()}"\n')
        serve_args = ["--config", os.path.join(lake, "ztlens.toml")]
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    log = open(os.path.join(lake, "serve.log"), "w")
    # cwd = the temp dir, so no ztlens.toml of the caller's directory is read.
    server = subprocess.Popen(
        [binary, *serve_args, "--data-dir", os.path.join(lake, "data"),
         "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=lake, env=env, stdout=log, stderr=subprocess.STDOUT)
    fresh, push, query, missed, first_poll = [], [], [], 0, 0
    show_log = False

    def send(event):
        """Send one event; returns when it is acknowledged (HTTP 200, or the broker's ack)."""
        body = json.dumps(event).encode()
        if producer is None:
            status, receipt = request(f"{base}/api/v1/ingest/okta", body)
            assert status == 200 and receipt["accepted"] == 1, receipt
            return
        delivered = []
        producer.produce("okta", body, on_delivery=lambda err, msg: delivered.append(err))
        producer.flush(30)
        assert delivered == [None], delivered

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(f"{base}/readyz")[0] == 200:
                    break
            except (OSError, urllib.error.HTTPError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                show_log = True
                sys.exit("server did not become ready")
            time.sleep(0.1)

        start_ms = int(time.time() * 1000)

        def allowed():
            params = {"from": start_ms - 600_000, "to": int(time.time() * 1000) + 60_000,
                      "decision": "allow", "source": "okta"}
            q0 = time.monotonic()
            _, body = request(f"{base}/api/v1/kpis/access_decisions?{urllib.parse.urlencode(params)}")
            query.append(time.monotonic() - q0)
            return body["value"]["events"]

        if producer is not None:
            # The consumer joins its group and is assigned the partition first: not timed.
            before = allowed()
            send(okta_event())
            deadline = time.monotonic() + 60
            while allowed() < before + 1:
                if time.monotonic() > deadline:
                    show_log = True
                    sys.exit("the first Kafka message was not counted within 60 s")
                time.sleep(0.1)
            query.clear()

        for i in range(args.samples):
            before = allowed()
            event = okta_event()
            t0 = time.monotonic()
            send(event)
            push.append(time.monotonic() - t0)
            for poll in range(10**9):
                if allowed() >= before + 1:
                    fresh.append(time.monotonic() - t0)
                    first_poll += poll == 0
                    break
                if time.monotonic() - t0 > args.timeout:
                    missed += 1
                    show_log = True
                    print(f"sample {i}: not counted after {args.timeout} s", file=sys.stderr)
                    break
                time.sleep(args.poll)
    finally:
        stop(server, signal.SIGTERM, 60)
        if producer is not None:
            # Closed before the mock cluster stops, so it does not log the lost connection.
            producer.flush(5)
            producer = None
        if mock is not None:
            stop(mock, signal.SIGINT, 10)
        log.close()
        if show_log:
            with open(os.path.join(lake, "serve.log")) as f:
                print("server log (tail):", *(l.rstrip() for l in f.readlines()[-20:]), sep="\n  ", file=sys.stderr)
        shutil.rmtree(lake, ignore_errors=True)

    print("command:", " ".join([sys.executable] + sys.argv))
    print(f"{args.samples} samples over {'Kafka' if args.kafka else 'HTTP'}, "
          f"KPI polled every {args.poll * 1000:.0f} ms")
    if fresh:
        report("freshness", fresh)
    report("push latency", push)
    report("KPI query", query)
    print(f"counted by the first poll after the push: {first_poll} of {len(fresh)}")
    if missed:
        print(f"{missed} events never counted within {args.timeout} s")
        sys.exit(1)


if __name__ == "__main__":
    main()
