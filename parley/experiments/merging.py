"""Merge a sweep's shards into its Parquet tables a batch of runs at a time.

The tables of a 1,080-run sweep do not fit comfortably in memory as one frame each; here
the sweep process holds one batch of runs (:data:`BATCH_RUNS`) at a time, whatever the
number of runs. Two passes over the shards: the first finds each table's columns (in the
order they first appear over the runs in grid order) and
their types, unified over all batches (an all-missing column in one batch takes the type
it has elsewhere); the second writes every batch as row groups of one Parquet file per
table, atomically (a temporary file renamed at the end). The rows are in the order of
``run_ids`` (the grid's), so a resumed sweep merges to the same tables.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from parley.experiments.records import Columns
from parley.experiments.shards import read_shard, shard_path
from parley.experiments.storage import TABLES

BATCH_RUNS = 64


def merge_to_parquet(directory: str | Path, run_ids: Sequence[str], out_dir: Path) -> None:
    """Write ``out_dir/<table>.parquet`` for every table from the shards of ``run_ids``."""
    columns: dict[str, dict[str, None]] = {name: {"run_id": None} for name in TABLES}
    schemas: dict[str, pa.Schema | None] = dict.fromkeys(TABLES)
    empty: dict[str, pa.Schema] = {}  # a table with no rows at all keeps pandas' empty types
    for parts in _batches(directory, run_ids):
        for name, tables in parts.items():
            batch_columns = _columns(tables)
            columns.setdefault(name, {"run_id": None}).update(dict.fromkeys(batch_columns))
            frame = _frame(tables, batch_columns)
            schema = pa.Schema.from_pandas(frame, preserve_index=False)
            if frame.empty:  # the types of no rows say nothing (pandas may call them float)
                empty[name] = schema
                continue
            known = schemas.get(name)
            schemas[name] = (
                schema
                if known is None
                else pa.unify_schemas([known, schema], promote_options="permissive")
            )
    for name, schema in empty.items():
        if schemas.get(name) is None:
            schemas[name] = schema
    final = {
        name: pa.schema(
            [(schemas[name] or pa.schema([])).field(c) for c in cols]
            if schemas.get(name) is not None
            else [pa.field(c, pa.null()) for c in cols]
        ).remove_metadata()
        for name, cols in columns.items()
    }
    writers: dict[str, tuple[pq.ParquetWriter, str]] = {}
    try:
        for name, schema in final.items():
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.parquet.", suffix=".tmp")
            os.close(fd)
            writers[name] = (pq.ParquetWriter(tmp, schema), tmp)
        for parts in _batches(directory, run_ids):
            for name, tables in parts.items():
                frame = _frame(tables, list(columns[name]))
                if frame.empty:
                    continue
                table = pa.Table.from_pandas(frame, schema=final[name], preserve_index=False)
                writers[name][0].write_table(table)
        for name, (writer, tmp) in writers.items():
            writer.close()
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, out_dir / f"{name}.parquet")
    except BaseException:
        for writer, tmp in writers.values():
            writer.close()
            Path(tmp).unlink(missing_ok=True)
        raise


def _batches(directory: str | Path, run_ids: Sequence[str]) -> Iterator[dict[str, list[Columns]]]:
    for start in range(0, len(run_ids), BATCH_RUNS):
        parts: dict[str, list[Columns]] = {name: [] for name in TABLES}
        for rid in run_ids[start : start + BATCH_RUNS]:
            for name, cols in read_shard(shard_path(directory, rid)).items():
                parts.setdefault(name, []).append(cols)
        yield parts


def _columns(tables: list[Columns]) -> list[str]:
    return list(dict.fromkeys(["run_id", *(c for t in tables for c in t)]))


def _frame(tables: list[Columns], names: list[str]) -> pd.DataFrame:
    """The batch as one frame with columns ``names`` (missing ones None)."""
    merged: Columns = {c: [] for c in names}
    for table in tables:
        n = len(next(iter(table.values()), []))
        for c in names:
            merged[c].extend(table.get(c, [None] * n))
    return pd.DataFrame(merged)
