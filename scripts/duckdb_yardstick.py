#!/usr/bin/env python3
"""Same-work yardstick: `ztlens` against DuckDB on the same files and the same lake, in one run.

From a clean clone, in one command: `scripts/yardstick` (builds the release binary, installs the
pinned duckdb when missing, then runs this script). Or, after `cargo build --release` and
`python3 -m pip install duckdb==2.0.1`:

    python3 scripts/duckdb_yardstick.py [--ztlens target/release/ztlens] [--events 1000000]
                                        [--runs 3] [--work DIR]

It generates the dataset itself (`ztlens gen --seed 1 --events N --out WORK/gen`, reused when
WORK/gen was generated with the same N; WORK defaults to target/yardstick), then measures two
things, each as the median of --runs runs, and prints every ratio:

1. Ingest. Per format — Okta System Log (gen/okta/system_log.ndjson), VPC flow v2
   (gen/vpcflow/flows_v2.log), nginx combined (gen/nginx/access.log) — and the three files
   mixed in one run: `ztlens ingest` into a fresh lake against DuckDB loading the same files
   with explicitly typed columns (`read_json(columns=…)`, `read_csv(columns=…)`, the nginx
   line split by a regular expression and cast) and writing them with
   `COPY … TO … (FORMAT parquet, COMPRESSION zstd)` into a fresh directory. Printed: records,
   seconds and records/s of both, and the ratio ztlens records/s ÷ DuckDB records/s (the goal
   is ≥ 1.5). ztlens is timed as a process (wall clock, start-up included); DuckDB as the COPY
   statements on a fresh in-process connection.

   DuckDB does less work than ztlens here: it writes the vendor's fields as they come — no
   normalization to the OCSF-aligned tables, no decision taxonomy, no site tags (lateral,
   segments, port class, privileged paths), no de-duplication key, no dead letters, no WAL —
   into one file per input. ztlens also fsyncs every Parquet file and splits rows by hour
   partition. It is the floor to compare against, not an equivalent pipeline.

2. KPIs. The whole dataset (every folder of gen/ but inventory, one `ztlens ingest --source
   <folder>` each, as the tests ingest a dataset) goes into one ztlens lake; then the four seed
   KPIs (mfa_outcomes_by_country, blocked_lateral_movement, high_privilege_access_failures,
   access_decisions) and the four slowest (telemetry_health, response_time,
   detections_uncontained, service_account_hygiene: docs/performance.md, and this run prints
   ztlens's four slowest to check) run over truth.json's [from, to) as one bucket (what `ztlens kpi` does without
   --step), in ztlens and in DuckDB over ztlens's own Parquet lake with SQL equivalent to ours
   (our own queries/kpis/<id>.sql and queries/views/*.sql, put into DuckDB's dialect by
   `to_duckdb`, which lists every rewrite). Results are compared, not only
   timed: same columns, same rows in any order, floats within 1e-9. ztlens is timed in process
   (`ztlens bench --lake`, which evaluates every KPI as the server does; the median is printed
   for all of them) and as a process (`ztlens kpi ID --format json`, wall clock; the start-up
   of a trivial `ztlens query "SELECT 1"` is printed apart, and subtracted from nothing);
   DuckDB as execute + fetch on one in-process connection. The ratio is DuckDB ms ÷ ztlens ms
   (above 1: ztlens is faster).

The script exits 1 when any KPI result differs, after printing everything. Python 3.11 standard
library and duckdb only.
"""

import argparse
import csv
import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

DUCKDB_VERSION = "2.0.1"
try:
    import duckdb
except ImportError:
    sys.exit(
        "this script needs DuckDB's Python package: "
        f"python3 -m pip install duckdb=={DUCKDB_VERSION}"
    )

REPO = Path(__file__).resolve().parent.parent
# The views the compared KPIs read, in dependency order (queries/views/<name>.sql).
VIEWS = [
    "identity_events",
    "mfa_steps",
    "edr_detections",
    "edr_containments",
    "edr_detection_keys",
    "edr_containment_keys",
    "edr_answers",
]
# Columns our SQL casts from a millisecond timestamp to BIGINT (epoch milliseconds).
TIMESTAMP_COLUMNS = "time|detected_time|metadata_processed_time|range_to|last_sign_in|rotated"
# Integer columns our SQL takes a median of (a DOUBLE median, `minutes`, stays as it is).
INTEGER_MEDIANS = "lag_ms"

# The four seed KPIs, then the four slowest (docs/performance.md, 10 million events).
SEED_KPIS = [
    "mfa_outcomes_by_country",
    "blocked_lateral_movement",
    "high_privilege_access_failures",
    "access_decisions",
]
SLOWEST_KPIS = [
    "telemetry_health",
    "response_time",
    "detections_uncontained",
    "service_account_hygiene",
]

TABLES = [
    "authentication",
    "network_activity",
    "http_activity",
    "device_state",
    "detection_finding",
    "account_change",
    "base_event",
]

# (format, file under gen/) of the ingest comparison.
INGEST_FILES = [
    ("okta", "okta/system_log.ndjson"),
    ("vpcflow", "vpcflow/flows_v2.log"),
    ("nginx", "nginx/access.log"),
]

# ---------------------------------------------------------------------------------------------
# DuckDB's typed loads
# ---------------------------------------------------------------------------------------------

# Every field of the Okta System Log events the generator writes (LogEvent), typed; nested
# objects as structs, the free-form debugData and transaction detail as JSON.
OKTA_COLUMNS = {
    "uuid": "VARCHAR",
    "published": "TIMESTAMPTZ",
    "eventType": "VARCHAR",
    "version": "VARCHAR",
    "severity": "VARCHAR",
    "displayMessage": "VARCHAR",
    "actor": "STRUCT(id VARCHAR, type VARCHAR, alternateId VARCHAR, displayName VARCHAR, "
    "detailEntry JSON)",
    "client": "STRUCT(userAgent STRUCT(rawUserAgent VARCHAR, os VARCHAR, browser VARCHAR), "
    "zone VARCHAR, device VARCHAR, id VARCHAR, ipAddress VARCHAR, "
    "geographicalContext STRUCT(city VARCHAR, state VARCHAR, country VARCHAR, "
    "postalCode VARCHAR, geolocation STRUCT(lat DOUBLE, lon DOUBLE)))",
    "device": "STRUCT(id VARCHAR, name VARCHAR, os_platform VARCHAR, managed BOOLEAN, "
    "registered BOOLEAN)",
    "authenticationContext": "STRUCT(authenticationProvider VARCHAR, "
    "credentialProvider VARCHAR, credentialType VARCHAR, issuer JSON, interface VARCHAR, "
    "authenticationStep INTEGER, externalSessionId VARCHAR)",
    "outcome": "STRUCT(result VARCHAR, reason VARCHAR)",
    "securityContext": "STRUCT(asNumber BIGINT, asOrg VARCHAR, isp VARCHAR, domain VARCHAR, "
    "isProxy BOOLEAN)",
    "debugContext": "STRUCT(debugData JSON)",
    "transaction": "STRUCT(type VARCHAR, id VARCHAR, detail JSON)",
    "request": "STRUCT(ipChain STRUCT(ip VARCHAR, geographicalContext STRUCT(country VARCHAR), "
    "version VARCHAR, source VARCHAR)[])",
    "target": "STRUCT(id VARCHAR, type VARCHAR, alternateId VARCHAR, displayName VARCHAR, "
    "detailEntry JSON)[]",
}

# AWS VPC flow log v2 default format, space-separated, `-` for no data.
VPC_COLUMNS = {
    "version": "INTEGER",
    "account_id": "VARCHAR",
    "interface_id": "VARCHAR",
    "srcaddr": "VARCHAR",
    "dstaddr": "VARCHAR",
    "srcport": "INTEGER",
    "dstport": "INTEGER",
    "protocol": "INTEGER",
    "packets": "BIGINT",
    "bytes": "BIGINT",
    "start": "BIGINT",
    "end": "BIGINT",
    "action": "VARCHAR",
    "log_status": "VARCHAR",
}

# nginx combined: $remote_addr - $remote_user [$time_local] "$request" $status
# $body_bytes_sent "$http_referer" "$http_user_agent"
NGINX_PATTERN = r'^(\S+) \S+ (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\S+) "([^"]*)" "([^"]*)"'
NGINX_GROUPS = ["ip", "user", "time", "request", "status", "bytes", "referer", "agent"]


def sql_string(text):
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_columns(columns):
    """A DuckDB struct literal of column name -> type, for read_json/read_csv(columns=…)."""
    return "{" + ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in columns.items()) + "}"


def duckdb_load_sql(fmt, path, out_file):
    """The COPY statement that loads `path` (of format `fmt`) into `out_file` (zstd Parquet)."""
    src = sql_string(path)
    if fmt == "okta":
        select = (
            f"SELECT * FROM read_json({src}, format = 'newline_delimited', "
            f"columns = {sql_columns(OKTA_COLUMNS)})"
        )
    elif fmt == "vpcflow":
        select = (
            f"SELECT * FROM read_csv({src}, delim = ' ', header = false, nullstr = '-', "
            f"columns = {sql_columns(VPC_COLUMNS)})"
        )
    elif fmt == "nginx":
        groups = "[" + ", ".join(sql_string(g) for g in NGINX_GROUPS) + "]"
        select = (
            "SELECT r.ip AS remote_addr, NULLIF(r.user, '-') AS remote_user, "
            "strptime(r.time, '%d/%b/%Y:%H:%M:%S %z') AS time_local, r.request, "
            "CAST(r.status AS INTEGER) AS status, TRY_CAST(r.bytes AS BIGINT) AS body_bytes_sent, "
            "NULLIF(r.referer, '-') AS http_referer, r.agent AS http_user_agent "
            f"FROM (SELECT regexp_extract(line, {sql_string(NGINX_PATTERN)}, {groups}) AS r "
            f"FROM read_csv({src}, delim = E'\\x01', quote = '', escape = '', header = false, "
            "columns = {'line': 'VARCHAR'}))"
        )
    else:
        raise ValueError(fmt)
    return f"COPY ({select}) TO {sql_string(out_file)} (FORMAT parquet, COMPRESSION zstd)"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def say(text=""):
    print(text, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def run(cmd, check=True, env=None):
    """Run a command (with `env` added to the environment); return (seconds of wall clock,
    stdout). Fails loudly."""
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True,
                         env=None if env is None else {**os.environ, **env})
    seconds = time.perf_counter() - started
    if check and out.returncode != 0:
        sys.exit(
            f"command failed ({out.returncode}): {' '.join(map(str, cmd))}\n"
            f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
        )
    return seconds, out.stdout


def ms_of(text):
    """Epoch milliseconds of an RFC 3339 instant or a date (midnight UTC)."""
    t = dt.datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta // dt.timedelta(milliseconds=1)


def utc_of(ms):
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)


def ts_sql(ms):
    """A DuckDB TIMESTAMPTZ literal of epoch milliseconds."""
    return "TIMESTAMPTZ " + sql_string(utc_of(ms).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00")


def date_of(ms):
    return utc_of(ms).strftime("%Y-%m-%d")


def duration_ms(text):
    """`<n>[ms|s|m|h|d|w]` or milliseconds, as analytics/src/time_range.rs parses a duration."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)?", text.strip())
    if not m:
        raise ValueError(f"duration {text!r}")
    factor = {None: 1, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
              "w": 604_800_000}[m.group(2)]
    return int(m.group(1)) * factor


def kpi_lookback_ms(kpi_id):
    """The `-- lookback:` of queries/kpis/<id>.sql (0 without one)."""
    for line in (REPO / "queries" / "kpis" / f"{kpi_id}.sql").read_text().splitlines():
        if not line.startswith("--"):
            break
        m = re.match(r"--\s*lookback\s*:\s*(\S+)", line)
        if m:
            return duration_ms(m.group(1))
    return 0


def ratio_text(value):
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


# ---------------------------------------------------------------------------------------------
# Set-up: versions and the dataset
# ---------------------------------------------------------------------------------------------


def print_versions(ztlens, config):
    _, version = run([ztlens, "--version"], check=False)
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()
    cores = os.cpu_count()
    parse_threads = query_threads = "?"
    if config is not None:
        _, text = run([ztlens, "--config", config, "config"], check=False)
        try:
            effective = tomllib.loads(text)
            parse_threads = effective.get("ingest", {}).get("parse_threads", "?")
            query_threads = effective.get("query", {}).get("threads", "?")
        except tomllib.TOMLDecodeError:
            pass
    say(f"{version.strip() or 'ztlens (no --version)'}: {ztlens}")
    say(
        f"  ingest.parse_threads = {parse_threads}, query.threads = {query_threads} "
        f"(0: one per core)"
    )
    say(f"duckdb {duckdb.__version__}: threads = {threads}")
    say(f"python {sys.version.split()[0]}, {cores} cores")


def dataset(ztlens, work, events):
    """WORK/gen, generated with seed 1 and `events` (reused when it already is)."""
    gen = work / "gen"
    stamp = work / "gen.events"
    if (gen / "truth.json").exists() and stamp.exists() and stamp.read_text().strip() == str(events):
        say(f"dataset: reusing {gen} ({events} events, seed 1)")
        return gen
    if gen.exists():
        if not stamp.exists():
            sys.exit(f"{gen} exists but this script did not generate it: remove it or pass "
                     "another --work")
        shutil.rmtree(gen)  # generated by this script with another --events
    stamp.unlink(missing_ok=True)
    say(f"dataset: ztlens gen --seed 1 --events {events} --out {gen} …")
    seconds, _ = run([ztlens, "gen", "--seed", "1", "--events", str(events), "--out", gen])
    stamp.write_text(f"{events}\n")
    say(f"  generated in {seconds:.1f} s")
    return gen


def warm(paths):
    """Read the inputs once, so the first timed run does not pay for the disk alone."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


# ---------------------------------------------------------------------------------------------
# 1. Ingest
# ---------------------------------------------------------------------------------------------

INGEST_SUMMARY = re.compile(r"ingested \d+ input\(s\) as (.+?) in ([\d.]+) s: (\d+) records")


def ztlens_ingest(ztlens, config, lake, source, files):
    """One `ztlens ingest` into the fresh lake `lake`: (wall seconds, records, formats)."""
    if lake.exists():
        shutil.rmtree(lake)
    seconds, out = run(
        [ztlens, "--config", config, "--data-dir", lake, "ingest", "--quiet", "--source", source,
         *files]
    )
    m = INGEST_SUMMARY.search(out)
    if not m:
        sys.exit(f"cannot read the ingest summary:\n{out}")
    if "dead letters: 0" not in out:
        say(f"  note: ztlens refused records of {source}:\n{out}")
    shutil.rmtree(lake)
    return seconds, int(m.group(3)), m.group(1)


def duckdb_load(jobs, out_dir):
    """DuckDB loading each (format, file) of `jobs` into `out_dir` on a fresh connection:
    (seconds of the COPY statements, rows written)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = 0
    started = time.perf_counter()
    for fmt, path in jobs:
        rows += con.execute(duckdb_load_sql(fmt, path, out_dir / f"{fmt}.parquet")).fetchone()[0]
    seconds = time.perf_counter() - started
    con.close()
    shutil.rmtree(out_dir)
    return seconds, rows


def ingest_comparison(ztlens, gen, work, runs):
    config = gen / "ztlens.toml"
    files = [(fmt, gen / rel) for fmt, rel in INGEST_FILES]
    for _, path in files:
        if not path.exists():
            sys.exit(f"{path} is missing from the dataset")
    warm(path for _, path in files)
    cases = [(fmt, fmt, [(fmt, path)]) for fmt, path in files]
    # One `ztlens ingest --source auto` run reads all three files, each recognized from its
    # content; the summary names the formats it found, checked below.
    cases.append(("mixed", "auto", files))
    say()
    say(f"== Ingest: ztlens ingest vs DuckDB typed load + COPY to zstd Parquet "
        f"(median of {runs} runs)")
    header = (f"{'input':<8} {'MB':>7} {'records':>10} {'ztlens s':>9} {'ztlens rec/s':>13} "
              f"{'DuckDB rows':>11} {'DuckDB s':>9} {'DuckDB rec/s':>13} {'ratio':>7}")
    say(header)
    single_records = {}
    ratios = {}
    for name, source, jobs in cases:
        zt_times, duck_times = [], []
        records = duck_rows = None
        formats = ""
        for i in range(runs):
            seconds, records, formats = ztlens_ingest(
                ztlens, config, work / "runs" / f"lake-{name}-{i}", source, [p for _, p in jobs]
            )
            zt_times.append(seconds)
            seconds, duck_rows = duckdb_load(jobs, work / "runs" / f"duck-{name}-{i}")
            duck_times.append(seconds)
        if name == "mixed":
            expected = sorted(fmt for fmt, _ in jobs)
            if sorted(f.strip() for f in formats.split("+")) != expected:
                sys.exit(f"ztlens --source auto read the mixed files as {formats}, not {expected}")
            if records != sum(single_records.values()):
                sys.exit(
                    f"mixed ingest stored {records} records, the single runs "
                    f"{sum(single_records.values())}"
                )
        else:
            single_records[name] = records
        mb = sum(os.path.getsize(p) for _, p in jobs) / 1e6
        zt_s, duck_s = median(zt_times), median(duck_times)
        zt_rate, duck_rate = records / zt_s, duck_rows / duck_s
        ratios[name] = zt_rate / duck_rate
        say(f"{name:<8} {mb:>7.1f} {records:>10} {zt_s:>9.2f} {zt_rate:>13,.0f} "
            f"{duck_rows:>11} {duck_s:>9.2f} {duck_rate:>13,.0f} {ratio_text(ratios[name]):>7}")
        if duck_rows != records:
            say(f"  note: DuckDB wrote {duck_rows} rows for ztlens's {records} records")
    say("ratio = ztlens records/s ÷ DuckDB rows/s (goal ≥ 1.5x); ztlens: process wall clock, "
        "fsync and hour partitions included; DuckDB: the COPY statements")
    return ratios


# ---------------------------------------------------------------------------------------------
# 2. KPIs
# ---------------------------------------------------------------------------------------------


def build_kpi_lake(ztlens, gen, lake):
    """Every folder of the dataset but inventory into one lake, one `ztlens ingest --source
    <folder>` per folder (tests/support/mod.rs, ingest_dataset)."""
    if lake.exists():
        shutil.rmtree(lake)
    config = gen / "ztlens.toml"
    total = 0
    started = time.perf_counter()
    for folder in sorted(p for p in gen.iterdir() if p.is_dir() and p.name != "inventory"):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        _, out = run([ztlens, "--config", config, "--data-dir", lake, "ingest", "--quiet",
                      "--source", folder.name, *files])
        m = INGEST_SUMMARY.search(out)
        total += int(m.group(3)) if m else 0
        if "dead letters: 0" not in out:
            say(f"  note: {folder.name}: ztlens refused records (DuckDB reads them too):\n{out}")
    say(f"KPI lake: {total} records of every source into {lake} in "
        f"{time.perf_counter() - started:.1f} s")


def _sections(sql, marker):
    """(text before, partial query, `final`, final query): the file split at its exact
    `-- partial` and `-- final` marker lines (a header field such as `-- partial_keys:` is not
    one)."""
    parts = marker.split(sql)
    # parts: before, "partial", partial sql, "final", final sql
    return parts[0], parts[2], parts[3], parts[4]


def one_statement(sql):
    """A KPI split in two (`-- partial`, `-- final`) as the one statement ztlens runs with
    `[query] kpi_cache = false` (analytics/src/kpi.rs, KpiPartial::composed): the partial query
    as the common table `partials`."""
    marker = re.compile(r"(?im)^-- (partial|final)[ \t]*$")
    if not marker.search(sql):
        return sql
    _, partial, _, final = _sections(sql, marker)
    partial, final = partial.strip().rstrip(";"), final.strip()
    # A final query may open with comment lines before its own WITH.
    final = re.sub(r"\A(?:--[^\n]*\n\s*)+", "", final)
    if final[:5].lower() == "with ":
        return f"WITH partials AS (\n{partial}\n),\n{final[5:]}"
    return f"WITH partials AS (\n{partial}\n)\n{final}"


def to_duckdb(sql):
    """Our DataFusion SQL in DuckDB's dialect. The rewrites, and nothing else:
    - `CAST(ts AS BIGINT)` of a timestamp column is `epoch_ms(ts)` (DuckDB cannot cast a
      timestamp to an integer);
    - the ordered aggregate `first_value(x ORDER BY …)` is DuckDB's `first(x ORDER BY …)`;
    - `median(x)` of an integer column is an integer in DataFusion (the middle values averaged
      with integer division): `trunc(median(x))` for the integer columns our medians read
      (INTEGER_MEDIANS);
    - a decimal literal such as `0.9` is a DOUBLE in DataFusion and a DECIMAL in DuckDB: cast;
    - `uid_key(id)` (ztlens's fixed-width 126-bit hash of an event id, the key KPIs count
      distinct events by) is the id itself: the same counts, and DuckDB groups strings well;
    - `encode(x, 'hex')` (lower-case hexadecimal of a string's bytes) is `lower(hex(x))`.
    The tables and views the SQL reads are bound by `bind_range` as ztlens's engine binds them
    (analytics/src/engine.rs, register_tables): the lake tables over [from - lookback, to) with
    `bucket`, kpi_range, dead_letters and service_account_inventory."""
    sql = one_statement(sql.split("\n-- evidence")[0])
    sql = re.sub(rf"CAST\(((?:\w+\.)?(?:{TIMESTAMP_COLUMNS})) AS BIGINT\)", r"epoch_ms(\1)", sql)
    sql = re.sub(r"\bfirst_value\(", "first(", sql)
    sql = re.sub(rf"(?i)\bmedian\(({INTEGER_MEDIANS})\)", r"trunc(median(\1))", sql)
    sql = re.sub(r"(?<![\w.'])(\d+\.\d+)(?![\w.'])", r"CAST(\1 AS DOUBLE)", sql)
    sql = re.sub(r"\buid_key\(((?:\w+\.)?metadata_uid)\)", r"\1", sql)
    sql = re.sub(r"\bencode\((\w+), 'hex'\)", r"lower(hex(\1))", sql)
    return sql.strip().rstrip(";")


def read_kpi_sql():
    """([(view name, CREATE VIEW statement)], {kpi id: statement}) from queries/, in DuckDB's
    dialect."""
    views = [
        (name, f"CREATE OR REPLACE VIEW {name} AS\n"
               + to_duckdb((REPO / "queries" / "views" / f"{name}.sql").read_text()))
        for name in VIEWS
    ]
    kpis = {
        kpi: to_duckdb((REPO / "queries" / "kpis" / f"{kpi}.sql").read_text())
        for kpi in SEED_KPIS + SLOWEST_KPIS
    }
    return views, kpis


def install_functions(con):
    """ztlens's scalar functions that our KPI SQL calls and DuckDB lacks, as macros:
    `round_significant(x, digits)` (analytics/src/functions.rs) rounds an integer to `digits`
    significant digits, half away from zero."""
    width = "length(CAST(abs(x) AS VARCHAR))"
    step = f"CAST(10 ** ({width} - digits) AS BIGINT)"
    con.execute(
        "CREATE OR REPLACE MACRO round_significant(x, digits) AS "
        f"CASE WHEN {width} <= digits THEN x "
        f"ELSE CAST(sign(x) AS BIGINT) * ((abs(x) + {step} // 2) // {step} * {step}) END"
    )


def load_inventory(con, config_path):
    """service_account_inventory as ztlens builds it (analytics/src/inventory.rs) from the
    dataset's ztlens.toml [inventory]: inline entries, then the CSV file."""
    section = tomllib.loads(config_path.read_text()).get("inventory", {})
    default_max = int(section.get("max_credential_age_days", 90))
    entries = list(section.get("service_account", []))
    if section.get("service_accounts_file"):
        path = Path(section["service_accounts_file"])
        if not path.is_absolute():
            path = config_path.parent / path
        lines = [l for l in path.read_text().splitlines() if not l.lstrip().startswith("#")]
        for row in csv.DictReader(lines, skipinitialspace=True):
            entries.append({k.strip(): (v or "").strip() for k, v in row.items()})
    rows = []
    for e in entries:
        account = str(e["account"]).strip()
        rotated = str(e.get("credential_rotated") or "").strip()
        max_age = e.get("max_credential_age_days")
        max_age = int(max_age) if str(max_age or "").strip() else default_max
        rows.append((account, account.lower(), str(e["owner"]).strip(),
                     ms_of(rotated) if rotated else None, max_age))
    con.execute(
        "CREATE OR REPLACE TABLE service_account_inventory (account VARCHAR, account_key VARCHAR, "
        "owner VARCHAR, credential_rotated_time TIMESTAMPTZ, max_credential_age_days INTEGER)"
    )
    for row in rows:
        con.execute(
            "INSERT INTO service_account_inventory VALUES (?, ?, ?, "
            "CASE WHEN ? IS NULL THEN NULL ELSE to_timestamp(0) + to_milliseconds(?) END, ?)",
            [row[0], row[1], row[2], row[3], row[3], row[4]],
        )
    return len(rows)


def bind_range(con, lake, from_ms, to_ms, lookback_ms, step_ms=None):
    """The lake tables, kpi_range and dead_letters over [from - lookback, to), in buckets of
    `step_ms` from `from`; one bucket by default (ztlens's register_tables with no --step)."""
    step = step_ms or to_ms - from_ms
    first = from_ms - lookback_ms
    # date_bin(step, time, from): floor division, so lookback rows get the buckets before from.
    bucket = (f"{ts_sql(from_ms)} + to_milliseconds(CAST(floor(CAST(epoch_ms({{t}}) - {from_ms} "
              f"AS DOUBLE) / {step}) AS BIGINT) * {step})")
    in_range = f"{{t}} >= {ts_sql(first)} AND {{t}} < {ts_sql(to_ms)}"
    for table in TABLES:
        files = lake / table / "date=*" / "hour=*" / "*.parquet"
        if not glob.glob(str(files)):
            sys.exit(f"the lake has no {table} files; DuckDB cannot type an empty table")
        con.execute(
            f"CREATE OR REPLACE VIEW {table} AS "
            f"SELECT * EXCLUDE (date, hour), {bucket.format(t='time')} AS bucket "
            f"FROM read_parquet({sql_string(files)}, hive_partitioning = true, "
            "hive_types = {'date': VARCHAR, 'hour': VARCHAR}) "
            f"WHERE date >= '{date_of(first)}' AND date <= '{date_of(to_ms - 1)}' "
            f"AND {in_range.format(t='time')}"
        )
    last_bucket = from_ms + (to_ms - 1 - from_ms) // step * step
    con.execute(
        f"CREATE OR REPLACE TABLE kpi_range AS SELECT {ts_sql(from_ms)} AS range_from, "
        f"{ts_sql(to_ms)} AS range_to, {ts_sql(last_bucket)} AS last_bucket"
    )
    # The dead-letter store: NDJSON per refusal date; ztlens reads the dates of the range.
    letters = [
        f for f in sorted(glob.glob(str(lake / "_dead_letter" / "date=*" / "*.ndjson")))
        if date_of(first) <= Path(f).parent.name.removeprefix("date=") <= date_of(to_ms - 1)
    ]
    if letters:
        listing = "[" + ", ".join(sql_string(f) for f in letters) + "]"
        source = (
            f"SELECT to_timestamp(0) + to_milliseconds(time) AS ts, source, origin, kind, reason, "
            f"raw_len FROM read_json({listing}, format = 'newline_delimited', ignore_errors = true, "
            "columns = {'time': 'BIGINT', 'source': 'VARCHAR', 'origin': 'VARCHAR', "
            "'kind': 'VARCHAR', 'reason': 'VARCHAR', 'raw_len': 'BIGINT'})"
        )
    else:
        source = (
            "SELECT NULL::TIMESTAMPTZ AS ts, NULL::VARCHAR AS source, NULL::VARCHAR AS origin, "
            "NULL::VARCHAR AS kind, NULL::VARCHAR AS reason, NULL::BIGINT AS raw_len WHERE false"
        )
    con.execute(
        "CREATE OR REPLACE VIEW dead_letters AS "
        f"SELECT ts AS time, source, origin, kind, reason, raw_len, {bucket.format(t='ts')} AS bucket "
        f"FROM ({source}) WHERE {in_range.format(t='ts')}"
    )


NO_KPI_CACHE = {"ZTLENS_QUERY__KPI_CACHE": "false"}


def ztlens_in_process(ztlens, config, lake, from_text, to_text, runs, cache):
    """`ztlens bench --lake`: every KPI's median in-process latency over the range, whole;
    with `cache`, KPIs split in two read their sealed hours' stored partial results (the first
    of the runs stores them), else every run reads the lake as DuckDB does."""
    _, out = run([ztlens, "--config", config, "bench", "--lake", lake, "--from", from_text,
                  "--to", to_text, "--repeat", str(runs)], env=None if cache else NO_KPI_CACHE)
    medians = {}
    for line in out.splitlines():
        # kpi, split (yes/no), first ms, whole ms (median), hourly ms
        m = re.fullmatch(r"(\w+)\s+(?:yes|no)\s+[\d.]+\s+([\d.]+)\s+[\d.]+", line.strip())
        if m:
            medians[m.group(1)] = float(m.group(2))
    return medians


def normalize(value, timestamp_column):
    """A comparable cell: timestamps as epoch ms, decimals as floats."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return ms_of(value.isoformat())
    if timestamp_column and isinstance(value, str):
        return ms_of(value)
    if isinstance(value, bool) or isinstance(value, (int, float, str)):
        return value
    try:
        return float(value)  # Decimal, HUGEINT
    except (TypeError, ValueError):
        return str(value)


def sort_key(row):
    key = []
    for v in row:
        if v is None:
            key.append((0, 0))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            key.append((1, round(float(v), 6)))
        else:
            key.append((2, str(v)))
    return key


def cells_equal(a, b):
    if a is None or b is None:
        return a is None and b is None
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(float(a)) or math.isnan(float(b)):
                return math.isnan(float(a)) and math.isnan(float(b))
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
        return a == b
    return a == b


def compare(zt_rows, columns, types, duck_rows):
    """'equal', or what differs first."""
    stamps = ["TIMESTAMP" in t.upper() for t in types]
    if zt_rows and set(zt_rows[0]) != set(columns):
        return f"DIFFERENT columns: ztlens {sorted(zt_rows[0])}, DuckDB {columns}"
    ours = sorted(([normalize(r.get(c), s) for c, s in zip(columns, stamps)] for r in zt_rows),
                  key=sort_key)
    theirs = sorted(([normalize(v, s) for v, s in zip(r, stamps)] for r in duck_rows),
                    key=sort_key)
    for i in range(max(len(ours), len(theirs))):
        a = ours[i] if i < len(ours) else None
        b = theirs[i] if i < len(theirs) else None
        if a is None or b is None or not all(cells_equal(x, y) for x, y in zip(a, b)):
            def show(row):
                if row is None:
                    return "(none)"
                return {c: utc_of(v).isoformat() if s and isinstance(v, int) else v
                        for c, s, v in zip(columns, stamps, row)}
            return (f"DIFFERENT ({len(ours)} vs {len(theirs)} rows; first differing row "
                    f"#{i + 1}: ztlens {show(a)}, DuckDB {show(b)})")
    return "equal"


def kpi_comparison(ztlens, gen, work, runs):
    config = gen / "ztlens.toml"
    truth = json.loads((gen / "truth.json").read_text())
    from_text, to_text = truth["from"], truth["to"]
    from_ms, to_ms = ms_of(from_text), ms_of(to_text)
    lake = work / "kpi-lake"
    say()
    say(f"== KPIs over [{from_text}, {to_text}) as one bucket (median of {runs} runs)")
    build_kpi_lake(ztlens, gen, lake)

    in_process = ztlens_in_process(ztlens, config, lake, from_text, to_text, runs, cache=False)
    # A first pass stores the sealed hours; the timed one reads them, as a dashboard does.
    ztlens_in_process(ztlens, config, lake, from_text, to_text, 1, cache=True)
    cached = ztlens_in_process(ztlens, config, lake, from_text, to_text, runs, cache=True)
    slowest = sorted(in_process, key=in_process.get, reverse=True)[:len(SLOWEST_KPIS)]
    say("ztlens in process (`ztlens bench --lake`), every KPI, slowest first: " + ", ".join(
        f"{k} {in_process[k]:.0f} ms" for k in sorted(in_process, key=in_process.get,
                                                      reverse=True)))
    if set(slowest) != set(SLOWEST_KPIS):
        say(f"  note: this run's {len(slowest)} slowest are {', '.join(slowest)}; the yardstick "
            f"compares {', '.join(SLOWEST_KPIS)}")

    base = [ztlens, "--config", config, "--data-dir", lake]
    startup = median([run([*base, "query", "SELECT 1", "--format", "json"])[0]
                      for _ in range(runs)]) * 1000
    say(f"ztlens process start-up (`ztlens query \"SELECT 1\"`): {startup:.0f} ms (median)")

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    install_functions(con)
    accounts = load_inventory(con, config)
    views, duck_sql = read_kpi_sql()
    bind_range(con, lake, from_ms, to_ms, 0)
    for _, statement in views:
        con.execute(statement)
    say(f"DuckDB: service_account_inventory {accounts} accounts; views "
        f"{', '.join(name for name, _ in views)}")
    say()
    say(f"{'kpi':<32} {'ztlens ms':>9} {'process ms':>10} {'cached ms':>9} {'DuckDB ms':>9} "
        f"{'ratio':>7} {'ratio(process)':>14} {'ratio(cached)':>13}  result")
    differ = []
    for kpi in SEED_KPIS + SLOWEST_KPIS:
        process_times, zt_rows = [], None
        for _ in range(runs):
            seconds, out = run([*base, "kpi", kpi, "--from", from_text, "--to", to_text,
                                "--format", "json"], env=NO_KPI_CACHE)
            process_times.append(seconds * 1000)
            zt_rows = json.loads(out)
        bind_range(con, lake, from_ms, to_ms, kpi_lookback_ms(kpi))
        duck_times = []
        for _ in range(runs):
            started = time.perf_counter()
            cursor = con.execute(duck_sql[kpi])
            duck_rows = cursor.fetchall()
            duck_times.append((time.perf_counter() - started) * 1000)
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        verdict = compare(zt_rows, columns, types, duck_rows)
        if verdict != "equal":
            differ.append(kpi)
        zt_ms, proc_ms, duck_ms = in_process.get(kpi), median(process_times), median(duck_times)
        cached_ms = cached.get(kpi)
        ratio = duck_ms / zt_ms if zt_ms else None
        cached_ratio = duck_ms / cached_ms if cached_ms else None
        zt_text = "-" if zt_ms is None else f"{zt_ms:.0f}"
        cached_text = "-" if cached_ms is None else f"{cached_ms:.0f}"
        say(f"{kpi:<32} {zt_text:>9} {proc_ms:>10.0f} {cached_text:>9} {duck_ms:>9.0f} "
            f"{ratio_text(ratio):>7} {ratio_text(duck_ms / proc_ms):>14} "
            f"{ratio_text(cached_ratio):>13}  {verdict} ({len(zt_rows)} rows)")
    con.close()
    say("ratio = DuckDB ms ÷ ztlens in-process ms with [query] kpi_cache = false, the same work "
        "(above 1: ztlens is faster); ratio(process) uses the wall clock of `ztlens kpi`, start-up "
        "included; ratio(cached) = DuckDB ms ÷ ztlens in-process ms with the cache on (after a first "
        "pass stored the sealed hours: what dashboards get; the same work for KPIs not split)")
    return differ


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ztlens", default=str(REPO / "target" / "release" / "ztlens"),
                        help="the ztlens binary (default: target/release/ztlens)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events of the generated dataset (default 1000000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--work", default=str(REPO / "target" / "yardstick"),
                        help="scratch directory: dataset, lakes, DuckDB output "
                             "(default target/yardstick)")
    args = parser.parse_args()
    # A bare name is looked up on PATH, as a shell would.
    ztlens = shutil.which(args.ztlens) if os.sep not in args.ztlens else args.ztlens
    ztlens = str(Path(ztlens or args.ztlens).resolve())
    if not os.access(ztlens, os.X_OK):
        sys.exit(f"{ztlens} is not an executable; build it with `cargo build --release`")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    runs = max(1, args.runs)

    gen = dataset(ztlens, work, args.events)
    print_versions(ztlens, gen / "ztlens.toml")
    ingest_comparison(ztlens, gen, work, runs)
    differ = kpi_comparison(ztlens, gen, work, runs)
    shutil.rmtree(work / "runs", ignore_errors=True)
    if differ:
        say(f"\nFAILED: DuckDB's results differ from ztlens's for {', '.join(differ)}")
        sys.exit(1)
    say("\nevery compared KPI is equal in DuckDB and ztlens")


if __name__ == "__main__":
    main()
