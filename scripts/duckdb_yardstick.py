#!/usr/bin/env python3
"""Side-by-side yardstick: DuckDB loading the same files into Parquet as `ztlens ingest`.

Usage: scripts/duckdb_yardstick.py GEN_DIR OUT_DIR
  GEN_DIR  a dataset written by `ztlens gen` (okta/system_log.ndjson, vpcflow/flows_v2.log,
           nginx/access.log are used)
  OUT_DIR  scratch directory for DuckDB's Parquet files

DuckDB does less work than ztlens here: it infers a schema and writes the vendor fields as they
are (no normalization, no decision taxonomy, no site tags, no de-duplication key, no dead
letters). It is the floor to compare against, not an equivalent pipeline. Requires
`pip install duckdb`.
"""
import os
import sys
import time

import duckdb


VPC_COLUMNS = (
    "{'version':'INT','account_id':'VARCHAR','interface_id':'VARCHAR','srcaddr':'VARCHAR',"
    "'dstaddr':'VARCHAR','srcport':'INT','dstport':'INT','protocol':'INT','packets':'BIGINT',"
    "'bytes':'BIGINT','start':'BIGINT','end':'BIGINT','action':'VARCHAR','log_status':'VARCHAR'}"
)


def timed(con, label, sql, rows_sql):
    start = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - start
    rows = con.execute(rows_sql).fetchone()[0]
    print(f"{label:<8} {rows:>10} rows in {seconds:6.2f} s  ({rows / seconds:>10.0f} rows/s)")


def main():
    gen, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"duckdb {duckdb.__version__}, {threads} threads")
    okta = os.path.join(gen, "okta/system_log.ndjson")
    timed(
        con,
        "okta",
        f"COPY (SELECT * FROM read_json_auto('{okta}', format='newline_delimited')) "
        f"TO '{out}/okta.parquet' (FORMAT parquet, COMPRESSION zstd)",
        f"SELECT count(*) FROM '{out}/okta.parquet'",
    )
    vpc = os.path.join(gen, "vpcflow/flows_v2.log")
    timed(
        con,
        "vpcflow",
        f"COPY (SELECT * FROM read_csv('{vpc}', delim=' ', header=false, nullstr='-', columns={VPC_COLUMNS})) "
        f"TO '{out}/vpcflow.parquet' (FORMAT parquet, COMPRESSION zstd)",
        f"SELECT count(*) FROM '{out}/vpcflow.parquet'",
    )
    nginx = os.path.join(gen, "nginx/access.log")
    pattern = r'^(\S+) \S+ (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\S+) "([^"]*)" "([^"]*)"'
    timed(
        con,
        "nginx",
        f"COPY (SELECT regexp_extract(line, '{pattern}', ['ip','user','time','request','status','bytes','referer','agent']) AS r "
        f"FROM read_csv('{nginx}', delim=E'\\x01', quote='', escape='', header=false, columns={{'line':'VARCHAR'}})) "
        f"TO '{out}/nginx.parquet' (FORMAT parquet, COMPRESSION zstd)",
        f"SELECT count(*) FROM '{out}/nginx.parquet'",
    )


if __name__ == "__main__":
    main()
