"""The run directory's one owner: its layout and typed column schema (schema), its writer (write),
its reader (read: the only code that parses metrics.csv) and the versions it accepts (migrate).
The engine writes through it; results, the report and compare read through it."""

from energybench.rundir.migrate import check_format, written_format
from energybench.rundir.read import (
    accuracy_matrix,
    at_point,
    frame,
    hardware_points,
    load,
    num,
    read_config,
    read_json,
    read_manifest,
    read_metrics,
    read_power_trace,
    read_rows,
    read_summary,
    resume_command,
)
from energybench.rundir.schema import (
    CONFIG,
    FLAGS,
    FORMAT,
    FORMAT_KEY,
    HARDWARE,
    IDENTITY,
    MANIFEST,
    MATRIX_FILE,
    METRICS,
    POWER_TRACE,
    SCHEMA,
    SUMMARY,
    TEXT,
    cell_dir,
    sharing_key,
)
from energybench.rundir.write import COLUMNS, MetricsText, render_csv, write_config, write_manifest, write_metrics

__all__ = [
    "CONFIG", "COLUMNS", "FLAGS", "FORMAT", "FORMAT_KEY", "HARDWARE", "IDENTITY", "MANIFEST", "MATRIX_FILE", "METRICS",
    "POWER_TRACE", "SCHEMA", "SUMMARY", "TEXT", "accuracy_matrix", "at_point", "cell_dir",
    "check_format", "frame", "hardware_points", "load", "num",
    "read_config", "read_json", "read_manifest", "read_metrics", "read_power_trace", "read_rows", "read_summary",
    "resume_command",
    "MetricsText", "render_csv", "sharing_key", "write_config", "write_manifest", "write_metrics", "written_format",
]
