"""Read a ztlens lake in an S3-compatible bucket with pyarrow's dataset API, as a data team would.

Prints, per table, the rows, distinct `metadata_uid`s and the dates of the hive partitions
pyarrow found, as JSON; with --copy-to, also downloads the lake (same keys) into a directory for
engines that read local files. Run by tests/object_lake.rs.

    python3 pyarrow_lake.py --endpoint http://127.0.0.1:PORT --bucket B [--prefix P] [--copy-to DIR]
"""

import argparse
import json
import os

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

TABLES = [
    "authentication",
    "network_activity",
    "http_activity",
    "device_state",
    "detection_finding",
    "account_change",
    "base_event",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--copy-to")
    args = parser.parse_args()
    scheme, _, host = args.endpoint.partition("://")
    s3 = pafs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=host,
        scheme=scheme,
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )
    root = "/".join(p for p in [args.bucket, args.prefix.strip("/")] if p)
    out = {}
    for table in TABLES:
        location = f"{root}/{table}"
        if s3.get_file_info(location).type == pafs.FileType.NotFound:
            out[table] = {"rows": 0, "distinct_uids": 0, "dates": []}
            continue
        dataset = ds.dataset(location, filesystem=s3, format="parquet", partitioning="hive")
        names = dataset.schema.names
        assert "date" in names and "hour" in names, f"{table}: no hive partitions in {names}"
        data = dataset.to_table(columns=["metadata_uid", "date", "hour"])
        out[table] = {
            "rows": data.num_rows,
            "distinct_uids": pc.count_distinct(data["metadata_uid"]).as_py(),
            "dates": sorted(str(d) for d in pc.unique(data["date"]).to_pylist()),
        }
    if args.copy_to:
        pafs.copy_files(root, args.copy_to, source_filesystem=s3,
                        destination_filesystem=pafs.LocalFileSystem())
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
