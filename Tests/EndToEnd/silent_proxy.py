"""A TCP proxy on loopback that can fall silent: `freeze()` stops forwarding in both directions
without closing anything (a black hole: no data, no FIN, no RST, either way), the way a dead
firewall state, a hung host or a partition looks to a client; connections accepted while frozen
are held open and never forwarded. `thaw()` forwards new connections again to the same target;
the connections that were frozen stay black holes until `close()` (a client must give them up
and connect anew).

Note: the proxy's kernel still ACKs what a client sends, and answers its TCP keepalive probes,
so only a client's own deadlines (not TCP keepalive or tcp_user_timeout) can notice the silence.
"""
from __future__ import annotations

import select
import socket
import threading
import time


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket | None, frozen: bool):
        self.client = client
        self.upstream = upstream
        self.frozen = frozen
        self.closed = False
        # Held while a chunk is forwarded: freeze() returns only when nothing is in flight.
        self.lock = threading.Lock()

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]

    def close(self) -> None:
        self.closed = True
        for s in self.sockets():
            try:
                s.close()
            except OSError:
                pass


class SilentProxy:
    """127.0.0.1:<port> -> target_host:target_port. Always call close()."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._frozen = False
        self._stopping = threading.Event()
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        # Counters (under _lock): connections accepted; of them forwarded; accepted since the last thaw().
        self.accepted = 0
        self.forwarded = 0
        self.forwarded_since_thaw = 0
        self.held = 0
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"silent-proxy-{self.port}", daemon=True)
        self._acceptor.start()

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen

    def freeze(self) -> None:
        """Every connection goes silent, both ways, and stays open; new ones are held silent.
        Once it returns, not one more byte is forwarded."""
        with self._lock:
            self._frozen = True
            links = list(self._links)
        for link in links:
            with link.lock:
                link.frozen = True

    def thaw(self) -> None:
        """New connections are forwarded again; the frozen ones stay silent."""
        with self._lock:
            self._frozen = False
            self.forwarded_since_thaw = 0

    def open_links(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                frozen = self._frozen
            upstream = None
            if not frozen:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()  # the target is down: refuse the way it would
                    continue
            with self._lock:
                # Frozen meanwhile: this one is silent too (freeze() did not see it).
                link = _Link(client, upstream, frozen or self._frozen)
                self._links.append(link)
                if link.frozen:
                    self.held += 1
                else:
                    self.forwarded += 1
                    self.forwarded_since_thaw += 1
            if upstream is not None:
                thread = threading.Thread(target=self._pump, args=(link,), daemon=True)
                with self._lock:
                    self._threads.append(thread)
                thread.start()

    def _pump(self, link: _Link) -> None:
        """Both directions of one connection; reads nothing while frozen (what was in flight stays
        in the kernel's buffers) and notices no close then either."""
        assert link.upstream is not None
        peer = {link.client: link.upstream, link.upstream: link.client}
        for s in peer:
            s.settimeout(30)
        try:
            while not self._stopping.is_set() and not link.closed:
                if link.frozen:
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peer), [], [], 0.05)
                for source in readable:
                    with link.lock:
                        if link.frozen:
                            break
                        data = source.recv(65536)
                        if not data:
                            link.close()
                            return
                        peer[source].sendall(data)
        except (OSError, ValueError):  # ValueError: select on a socket close() closed
            link.close()

    def close(self) -> None:
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self._acceptor.join(timeout=5)
        with self._lock:
            links, threads = list(self._links), list(self._threads)
        for link in links:
            link.close()
        for thread in threads:
            thread.join(timeout=5)
