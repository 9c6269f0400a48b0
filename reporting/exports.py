"""Exports of a report's dataset as CSV or XLSX: exactly the filtered rows, streamed (the rows
are read with ``iterator(chunk_size)``; the XLSX is written by openpyxl's write-only workbook to a
temporary file, then sent in chunks), so a million rows take flat memory."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from typing import IO

from openpyxl import Workbook

from reporting.reports import Dataset
from reporting.routers import reporting_reads

CHUNK_ROWS = 2000
FILE_CHUNK = 256 * 1024


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(dataset: Dataset) -> Iterator[str]:
    """The header, then a line per row (the reads happen as the response is sent, on the
    reporting database like the page's)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(dataset.columns)
    with reporting_reads():
        for row in dataset.rows(chunk_size=CHUNK_ROWS):
            yield writer.writerow(row)


def xlsx_write(dataset: Dataset, out: IO[bytes], *, title: str = "Report") -> int:
    """Write the dataset as one sheet to ``out``; returns the number of rows written."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(dataset.columns)
    count = 0
    with reporting_reads():
        for row in dataset.rows(chunk_size=CHUNK_ROWS):
            sheet.append(row)
            count += 1
    workbook.save(out)
    return count


def xlsx_file(dataset: Dataset, *, title: str = "Report") -> IO[bytes]:
    handle: IO[bytes] = tempfile.TemporaryFile()
    xlsx_write(dataset, handle, title=title)
    handle.seek(0)
    return handle


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk
    finally:
        handle.close()


def xlsx_bytes(dataset: Dataset, *, title: str = "Report") -> bytes:
    handle = xlsx_file(dataset, title=title)
    try:
        return handle.read()
    finally:
        handle.close()
