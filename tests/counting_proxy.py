"""A TCP proxy that counts what passes: put between the bot and Dovecot, it tells how many
bytes the server sent (was a message downloaded?) and which commands the client sent (how
were the FETCHes batched?). Plain TCP only; one thread per direction and connection.

    with CountingProxy(dovecot.host, dovecot.port) as proxy:
        ...connect to proxy.host:proxy.port...
        proxy.from_server  # bytes, all connections together
        proxy.commands()   # the client's lines, e.g. [b"A001 LOGIN ...", b"A002 SELECT ..."]
"""

from __future__ import annotations

import socket
import threading
from typing import Self


class CountingProxy:
    host = "127.0.0.1"

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.from_server = 0
        self._from_client = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        # True: what either side sends is dropped, connections stay open (a half-open
        # connection: a NAT that forgot it, a peer gone without a FIN).
        self.frozen = False

    def __enter__(self) -> Self:
        accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the other thread (Linux)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def drop_connections(self) -> None:
        """Cut every connection open now, both ends (the client sees EOF); new ones still pass."""
        with self._lock:
            sockets, self._sockets = list(self._sockets), []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def reset(self) -> None:
        with self._lock:
            self.from_server = 0
            self._from_client.clear()

    def commands(self) -> list[bytes]:
        """The lines the client sent, literals included, as one list (CRLF removed)."""
        with self._lock:
            return bytes(self._from_client).split(b"\r\n")[:-1]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            for source, target, to_client in ((server, client, True), (client, server, False)):
                pump = threading.Thread(target=self._pump, args=(source, target, to_client), daemon=True)
                pump.start()
                self._threads.append(pump)

    def _pump(self, source: socket.socket, target: socket.socket, to_client: bool) -> None:
        try:
            while data := source.recv(256 * 1024):
                with self._lock:
                    if to_client:
                        self.from_server += len(data)
                    else:
                        self._from_client += data
                if not self.frozen:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass
