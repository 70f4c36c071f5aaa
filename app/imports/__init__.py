"""Data import (数据归集, SPEC section 8): JSONL files, or records built in process, into the database.

    report = await import_files(engine, ["city.jsonl"])
    if not report.ok:
        for bad in report.bad_lines:
            print(bad)          # "city.jsonl:12: holder_id: the check character ..."

The whole input is checked before anything is written; one bad line and nothing is.
"""

from app.imports.pipeline import import_files, import_sources
from app.imports.report import BadLine, ImportReport
from app.imports.source import FileSource, RecordSource, Source

__all__ = [
    "BadLine",
    "FileSource",
    "ImportReport",
    "RecordSource",
    "Source",
    "import_files",
    "import_sources",
]
