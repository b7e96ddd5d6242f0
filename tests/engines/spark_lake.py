"""Run `ztlens lake ddl --dialect spark` in Spark, then named queries; print their rows as JSON.

    python3 spark_lake.py DDL_FILE QUERIES_JSON    (QUERIES_JSON: {"name": "SELECT …", …})

The queries run in the `ztlens` database the DDL creates. Run by tests/object_lake.rs with
PyPI's pyspark on the machine's Java runtime.
"""

import json
import sys
import tempfile

from pyspark.sql import SparkSession


def main():
    ddl = open(sys.argv[1]).read()
    queries = json.loads(open(sys.argv[2]).read())
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("ztlens-lake-ddl")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # Spark's catalog files go to a scratch directory, not the working directory.
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="ztlens-spark-"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    statements = [s for s in ddl.split(";") if strip_comments(s)]
    for statement in statements:
        spark.sql(statement)
    spark.catalog.setCurrentDatabase("ztlens")
    out = {}
    for name, sql in queries.items():
        out[name] = [row.asDict() for row in spark.sql(sql).collect()]
    spark.stop()
    print(json.dumps(out, sort_keys=True, default=str))


def strip_comments(statement):
    return "\n".join(
        line for line in statement.splitlines() if not line.strip().startswith("--")
    ).strip()


if __name__ == "__main__":
    main()
