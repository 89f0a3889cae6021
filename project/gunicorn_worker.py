"""gunicorn's threaded worker, answering the requests gunicorn itself refuses with the envelope.

    POST /api/images/ HTTP/1.1
    Content-Length: abc                     (or -5, 99…9 with 5000 digits, "6, 6", sent twice)

    HTTP/1.1 400 Bad Request
    Content-Type: application/json

    {"error": {"fields": {}, "description": "Content-Length must be one whole number of bytes,
     sent once.", "key": "common.parse_error"}}

gunicorn refuses a malformed request line, header or chunk before the application runs, and
answers with a small HTML page of its own (``gunicorn.util.write_error``). Every error of the API
is the envelope, so this worker swaps that one function for one that writes it. Its descriptions
never quote the request beyond a few dozen characters. No Django here: the arbiter imports this.
"""

from __future__ import annotations

import json
import re

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

QUOTED = 40
BYTES_REPR = re.compile(r"""bytearray\(b('[^']*'|"[^"]*")\)|\bb('[^']*'|"[^"]*")""")


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s signature; the body is the envelope."""
    key = "common.server_error" if status_int >= 500 and status_int != 501 else "common.parse_error"
    body = json.dumps(
        {"error": {"fields": {}, "description": describe(status_int, mesg), "key": key}}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def describe(status_int: int, mesg: str) -> str:
    """What was wrong and what to send instead."""
    if "CONTENT-LENGTH" in mesg.upper():
        return "Content-Length must be one whole number of bytes, sent once."
    if status_int >= 500 and status_int != 501:
        return "A server error occurred."
    # h11 quotes input as bytearray(b'…'), others as b'…': the quoted text is enough
    mesg = BYTES_REPR.sub(lambda match: match[1] or match[2], mesg)
    detail = mesg if len(mesg) <= QUOTED else f"{mesg[: QUOTED - 1]}…"
    return f"The HTTP request is malformed: {detail}" if detail else "The request was malformed."


class EnvelopeThreadWorker(ThreadWorker):
    """``worker_class = "project.gunicorn_worker.EnvelopeThreadWorker"`` (gthread, otherwise)."""

    def init_process(self) -> None:
        util.write_error = write_error  # read from the module at each error (workers/base.py)
        super().init_process()
