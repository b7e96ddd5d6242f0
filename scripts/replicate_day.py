#!/usr/bin/env python3
"""Grow a lake by copies of one ingested day, for benchmarks at volumes the generator would take
hours to write (generating and ingesting a 10-million-event day takes about ten minutes here).

    python3 scripts/replicate_day.py LAKE DAY COPIES

Every table partition of DAY (date=DAY/hour=HH) is copied to the COPIES following days, each copy
shifted by whole days (every timestamp column) and with its event and session ids made unique
(metadata_uid, session_uid and metadata_correlation_uid get a `~N` suffix), so a copy is a new
day of the same company, not a redelivery: distinct counts grow with the copies. Files are
written as ztlens writes them (zstd level 1, row groups of 256 Ki rows, page indexes). Needs
pyarrow (pip install pyarrow). The copies are synthetic: the same people, devices and workloads
doing the same things a day later; use them to measure cost, not to read KPIs.
"""

import datetime as dt
import pathlib
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SUFFIXED = ("metadata_uid", "session_uid", "metadata_correlation_uid")


def shifted(table: pa.Table, days: int) -> pa.Table:
    delta = pa.scalar(dt.timedelta(days=days), pa.duration("ms"))
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            column = pc.add(column, delta).cast(field.type)
        elif field.name in SUFFIXED:
            column = pc.binary_join_element_wise(column, pa.scalar(f"~{days}"), "")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lake, day, copies = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    first = dt.date.fromisoformat(day)
    tables = [p for p in sorted(lake.iterdir()) if p.is_dir() and not p.name.startswith("_")]
    for n in range(1, copies + 1):
        target_day = (first + dt.timedelta(days=n)).isoformat()
        rows = 0
        for table_dir in tables:
            for hour_dir in sorted((table_dir / f"date={day}").glob("hour=*")):
                files = sorted(hour_dir.glob("*.parquet"))
                if not files:
                    continue
                table = pa.concat_tables(pq.read_table(f, partitioning=None) for f in files)
                out_dir = table_dir / f"date={target_day}" / hour_dir.name
                out_dir.mkdir(parents=True, exist_ok=True)
                pq.write_table(
                    shifted(table, n),
                    out_dir / f"replica-{n:03}.parquet",
                    compression="zstd",
                    compression_level=1,
                    row_group_size=256 * 1024,
                    write_page_index=True,
                )
                rows += table.num_rows
        print(f"copy {n}/{copies}: {target_day}, {rows} rows", flush=True)


if __name__ == "__main__":
    main()
