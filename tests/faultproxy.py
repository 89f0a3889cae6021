"""A fault-injecting HTTP proxy between django-storages and the moto S3 server.

The storage talks real HTTP to a loopback port; the proxy forwards each request to the S3
endpoint unless a switch says otherwise::

    proxy = FaultProxy("http://127.0.0.1:5000").start()
    proxy.fail_puts(after=2)          # two object writes land, every later PUT gets a 503
    proxy.fail_some_puts(one_in=12)   # a fixed twelfth of the keys can never be written
    proxy.fail_deletes()              # DELETE answers 500, deletes nothing (one_in: some keys)
    proxy.slow_puts(1.0)              # writes land, but their answers come a second late
    proxy.refuse()                    # the endpoint is down: connections refused or reset
    proxy.heal()                      # all switches off, listening again on the same port

``proxy.landed`` counts the requests that reached the endpoint, by method; ``proxy.seen`` every
request, refused ones too.

``TcpFaultProxy`` (at the end) does the same for a database: a TCP relay that refuses or cuts
connections on demand.
"""

from __future__ import annotations

import contextlib
import html
import http.client
import re
import socket
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from botocore.config import Config

# Headers that describe one connection, not the message: never forwarded either way.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
}
ERROR_CODES = {500: "InternalError", 503: "ServiceUnavailable"}


class FaultProxy:
    """A threaded HTTP server on 127.0.0.1 that forwards to ``upstream``, faults on demand."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.port = 0
        self.lock = threading.Lock()
        self.landed: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()  # every request, faulted or forwarded, by method
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._reset_switches()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- switches ---------------------------------------------------------------------------

    def fail_puts(self, *, after: int = 0, status: int = 503) -> None:
        """Let ``after`` object writes land, then answer every later PUT with ``status``."""
        with self.lock:
            self._puts_allowed, self._put_status = self.landed["PUT"] + after, status

    def fail_some_puts(self, *, one_in: int, status: int = 503) -> None:
        """Answer ``status`` to every PUT of the keys whose checksum is 0 modulo ``one_in``.

        The choice depends on the key alone, so a retry of a refused write is refused again.
        """
        with self.lock:
            self._put_one_in, self._put_status = one_in, status

    def fail_deletes(self, *, one_in: int = 1, status: int = 500) -> None:
        """Answer ``status`` to the DELETEs of every key (or of a fixed ``one_in`` share of the
        keys, chosen independently of ``fail_some_puts``); nothing is deleted."""
        with self.lock:
            self._delete_one_in, self._delete_status = one_in, status

    def slow_puts(self, seconds: float) -> None:
        """Forward each PUT (it lands), then hold its answer back for ``seconds``."""
        with self.lock:
            self._put_delay = seconds

    def refuse(self) -> None:
        """Take the endpoint down: close the listening socket and every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for connection in list(server.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def heal(self) -> FaultProxy:
        """Every switch off; listening again (on the same port) if it was refusing."""
        with self.lock:
            self._reset_switches()
        return self.start() if self._server is None else self

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faultproxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.refuse()

    # -- what the handler asks --------------------------------------------------------------

    def _reset_switches(self) -> None:
        self._puts_allowed: int | None = None
        self._put_one_in: int | None = None
        self._put_status = 503
        self._delete_one_in: int | None = None
        self._delete_status = 500
        self._put_delay = 0.0

    def fault_for(self, method: str, path: str, body: bytes = b"") -> int | None:
        """The status to answer instead of forwarding, or None; counts what will land.

        A DeleteObjects request (``POST /bucket?delete``) fails whole when delete faults would
        fail any one of its keys: the deletes it asks for are the same deletes.
        """
        with self.lock:
            self.seen[method] += 1
            if method == "PUT":
                if self._puts_allowed is not None and self.landed["PUT"] >= self._puts_allowed:
                    return self._put_status
                if self._put_one_in and zlib.crc32(path.encode()) % self._put_one_in == 0:
                    return self._put_status
            if self._delete_one_in and self._deletes_fail(method, path, body):
                return self._delete_status
            self.landed[method] += 1
            return None

    def _deletes_fail(self, method: str, path: str, body: bytes) -> bool:
        if method == "DELETE":
            paths = [path]
        elif method == "POST" and path.split("?", 1)[-1].startswith("delete"):
            bucket = path.split("?", 1)[0].rstrip("/")
            keys = re.findall(rb"<Key>(.*?)</Key>", body)
            paths = [f"{bucket}/{html.unescape(key.decode())}" for key in keys]
        else:
            return False
        return any(zlib.crc32(f"DELETE {one}".encode()) % self._delete_one_in == 0 for one in paths)

    def delay_for(self, method: str) -> float:
        with self.lock:
            return self._put_delay if method == "PUT" else 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 overflows when the writer threads all connect
    proxy: FaultProxy

    def __init__(self, *args, **kwargs):
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kwargs)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "100 Continue" for botocore's Expect header
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._relay()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _relay(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        status = proxy.fault_for(self.command, self.path, body)
        if status is not None:
            return self._answer_fault(status)
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        time.sleep(proxy.delay_for(self.command))
        self._answer(response, payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, response: http.client.HTTPResponse, payload: bytes) -> None:
        try:
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:  # the client gave up (a timeout) or the proxy was taken down
            self.close_connection = True

    def _answer_fault(self, status: int) -> None:
        code = ERROR_CODES.get(status, "InternalError")
        payload = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>Injected by the test proxy.</Message></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# Short waits and one retry, so that each injected fault costs a test a second at most.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"max_attempts": 2, "mode": "standard"},
    s3={"addressing_style": "path"},  # a client_config replaces django-storages' own
)


class StorageFaults:
    """Breaks a test backend's deletions and heals them: the same test runs on both storages.

    S3: the storage goes through a FaultProxy whose DELETEs fail. Filesystem: the media root is
    moved aside and a regular file put in its place, as if the volume were gone.
    """

    def __init__(self, backend, settings):
        self.backend, self.proxy, self.aside = backend, None, None
        if backend.name == "s3":
            self.proxy = FaultProxy(backend.endpoint).start()
            config = backend.config(endpoint=self.proxy.url, client_config=CLIENT_CONFIG)
            settings.STORAGES = {**settings.STORAGES, "images": config}

    def fail_deletes(self) -> None:
        if self.proxy:
            return self.proxy.fail_deletes()
        root = self.backend.root
        self.aside = root.with_name(f"{root.name}-aside")
        root.rename(self.aside)
        root.write_bytes(b"")

    def heal(self) -> None:
        if self.proxy:
            self.proxy.heal()
        elif self.aside:
            self.backend.root.unlink()
            self.aside.rename(self.backend.root)
            self.aside = None

    def close(self) -> None:
        self.heal()
        if self.proxy:
            self.proxy.stop()


class TcpFaultProxy:
    """A TCP relay on a loopback port to a server such as PostgreSQL, cut on demand::

        proxy = TcpFaultProxy("127.0.0.1", 5432).start()
        proxy.refuse()                        # the server is down: every connection is reset and
                                              # new ones are refused
        proxy.refuse_on(b'INSERT INTO "t"')   # goes down the moment a client sends these bytes
        proxy.stall()                         # connections reset; new ones accepted, never served
        proxy.heal()                          # listening again, on the same port

    ``refuse_on`` makes a fault land at an exact point of a request (say, after its files are
    stored and before its row is written) without racing a timer.
    """

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.port = 0
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._trigger: bytes | None = None
        self._stalling = False

    def start(self) -> TcpFaultProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def refuse_on(self, trigger: bytes) -> None:
        with self.lock:
            self._trigger = trigger

    def stall(self) -> None:
        """Reset every connection; accept new ones but never answer (a server gone silent)."""
        self._cut_connections()
        with self.lock:
            self._stalling = True

    def _cut_connections(self) -> None:
        with self.lock:
            connections, self.connections = set(self.connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def refuse(self) -> None:
        with self.lock:
            listener, self._listener = self._listener, None
            connections, self.connections = set(self.connections), set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def heal(self) -> TcpFaultProxy:
        with self.lock:
            self._trigger = None
            stalled, self._stalling = self._stalling, False
            down = self._listener is None
        if stalled:
            self._cut_connections()
        return self.start() if down else self

    def stop(self) -> None:
        self.refuse()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # refused: the listener is closed
                return
            with self.lock:
                if self._stalling:
                    self.connections.add(client)  # held open, never read, until heal()
                    continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.connections |= {client, server}
            for source, target, watch in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, target, watch), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, watch: bool) -> None:
        try:
            while data := source.recv(65536):
                trigger = self._trigger if watch else None
                if trigger is not None and trigger in data:
                    self.refuse()
                    return
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
