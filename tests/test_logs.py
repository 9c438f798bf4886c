"""Log lines in logfmt and JSON, as Go exporters write them."""

from __future__ import annotations

import json
import logging

from exporter.logs import JsonFormatter, LogfmtFormatter


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("exporter.gpu", logging.WARNING, __file__, 1, message, None, None)


def test_logfmt_quotes_values_with_spaces_and_quotes() -> None:
    line = LogfmtFormatter().format(_record('GPU 3 lost: "fell off the bus"'))
    assert " level=warn logger=exporter.gpu " in line
    assert line.endswith('msg="GPU 3 lost: \\"fell off the bus\\""')
    assert line.startswith("ts=") and line.split()[0].endswith("Z")


def test_json_lines_carry_the_same_fields() -> None:
    fields = json.loads(JsonFormatter().format(_record("NVML initialised")))
    assert fields["level"] == "warn" and fields["msg"] == "NVML initialised"
    assert set(fields) == {"ts", "level", "logger", "msg"}
