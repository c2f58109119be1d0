"""Attack 29 (issue 21, examiner exam29b): a log holding only a two-line header, copytruncated while the agent is
stopped and given its header again, loses the new header's lines and the copytruncate window, unnamed.

docs/design.md ("A live file of which only its head was read can be copied, truncated and given its head again"):
across a stop, a live file's own bytes cannot show such a cut, the copy does — a new file under a rotated name
holding exactly what was read — and the window is warned and counted naming the file and the copy
(`copies.head_copy_of_grown`, tests/tail/test_copytruncate_head_only_live.py). That holds for a header of one line
(the head). A layout header of two lines (a banner and a column line: W3C's `#Version`/`#Fields`, a Log4j
`header` with a line break, a comment above a CSV header) is all the agent read when it stopped; logrotate
copytruncates the log while the agent is down (`app.log.1` holds exactly those two lines) and the application,
restarted, writes its header again and 30 events. The restarted agent takes the live file for the content it read,
grown: it reads on after the old header, so the new header's two lines are never shipped, and nothing is said —
no copytruncate window (lines written between the copy and the truncation are lost), no repeat, no loss. With a
one-line header the same schedule names the window ("found by the copy, holding no more than the first line …").

Found by hand: 2 of 2 with a two-line header (the running agent having seen an earlier copytruncate first), 2 of 2
naming the window with a one-line header; in this test, the simplest shape (the header all that
the live file ever held), 2 of 2, and its one-line-header twin passes.

Fixed for a header of at most 256 bytes (`MARK_MAX`, ab3289b: copies.head_read). A two-line header longer than that
(a banner above an audit CSV's column line of 26 fields, 293 bytes; 540 bytes in 4 lines by hand) fails as before:
2 of 2 by hand, 1 of 1 in the test (the `over-256-bytes` case, strict xfail).
"""
from __future__ import annotations

import json

import pytest

from tests.tail.header_copytruncate import assert_header_read_again_or_window_named

HEADER = b'{"banner": "app v1 starting"}\n{"columns": "time user action"}\n'
# A banner above an audit CSV's column line: 2 lines, over 256 bytes (MARK_MAX): the restart's head_read takes up to that
COLUMNS = ("time,user,client_ip,session_id,action,object_type,object_id,object_path,result,reason,duration_ms,"
           "bytes_in,bytes_out,request_id,user_agent,tenant,cluster,workspace,job_id,run_id,notebook_path,"
           "sql_warehouse,query_id,audit_level,service_name,version")
LONG_HEADER = b'{"banner": "app v1 starting"}\n' + json.dumps({"columns": COLUMNS}).encode() + b"\n"


@pytest.mark.parametrize("header", [
    HEADER,
    LONG_HEADER,
], ids=["short", "over-256-bytes"])
def test_two_line_header_copytruncated_while_stopped_is_read_again_or_named(tmp_path, header):
    assert_header_read_again_or_window_named(tmp_path, header)
