"""One selector thread that drives every paho client, every timer and every cross-thread call."""

import collections
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from firmware_sim.timers import Timers

log = logging.getLogger(__name__)

MISC_PERIOD_S = 1.0  # paho's loop_misc (keep-alive pings, dead-link detection) per client
MISC_SLICES = 10  # spread those calls over the period instead of one burst
MAX_SELECT_S = 0.5


class Loop:
    """Own a selector, a timer heap and a call queue; everything in it runs on the loop thread.

    Other threads hand work over with `call_soon_threadsafe`, which appends to a
    queue and wakes the selector through a socketpair.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.timers = Timers(on_error=lambda exc: log.error("a timer failed", exc_info=exc))
        self._selector = selectors.DefaultSelector()
        self._calls: collections.deque = collections.deque()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ, None)
        self._clients: list[mqtt.Client] = []
        self._dark: set[mqtt.Client] = set()
        self._misc_slice = 0
        self._running = False
        self._thread_id: int | None = None

    # ----- handing work to the loop

    def call_soon_threadsafe(self, callback: Callable, *args) -> None:
        """Run `callback(*args)` on the loop thread soon; safe from any thread."""
        self._calls.append((callback, args))
        try:
            self._wake_out.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken, or the loop is closed and nobody will run it anyway

    def call_later(self, delay: float, callback: Callable, *args):
        """Schedule `callback(*args)` after `delay` seconds; loop thread only."""
        return self.timers.call_at(self.clock() + delay, callback, *args)

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    # ----- paho clients

    def watch(self, client: mqtt.Client) -> None:
        """Drive `client` from this loop: its sockets go into the selector, loop_misc runs ~1/s."""
        client.on_socket_open = self._socket_opened
        client.on_socket_close = self._socket_closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_writing
        self._clients.append(client)

    def darken(self, client: mqtt.Client) -> None:
        """Stop serving `client`: its socket stays open but is neither read nor written, and it sends no pings.

        This is a link that died without a word: the broker hears nothing and, after 1.5 keep-alives,
        publishes the will; what it sent meanwhile is never read, so it stays unacknowledged.
        """
        self._dark.add(client)
        sock = client.socket()
        if sock is not None:
            self._socket_closed(client, None, sock)

    def undarken(self, client: mqtt.Client) -> None:
        """Serve `client` again; its dead socket is left for `reconnect()` to close, unread."""
        self._dark.discard(client)

    def is_dark(self, client: mqtt.Client) -> bool:
        return client in self._dark

    @property
    def open_sockets(self) -> int:
        """Return how many client sockets are registered."""
        return len(self._selector.get_map()) - 1

    def _socket_opened(self, client, userdata, sock) -> None:
        self._selector.register(sock, selectors.EVENT_READ, client)

    def _socket_closed(self, client, userdata, sock) -> None:
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _want_write(self, client, userdata, sock) -> None:
        try:
            self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        except (KeyError, ValueError):
            pass

    def _done_writing(self, client, userdata, sock) -> None:
        try:
            self._selector.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass

    # ----- running

    def run_forever(self) -> None:
        """Serve sockets, timers and calls until `stop()`; then close the selector."""
        self._thread_id = threading.get_ident()
        self._running = True
        self.call_later(MISC_PERIOD_S / MISC_SLICES, self._misc)
        try:
            while self._running:
                self._run_once()
        finally:
            self._selector.close()
            self._wake_in.close()
            self._wake_out.close()

    def stop(self) -> None:
        """Make run_forever return after the current iteration; loop thread only."""
        self._running = False

    def _run_once(self) -> None:
        timeout = MAX_SELECT_S
        if self._calls:
            timeout = 0
        else:
            due = self.timers.next_due()
            if due is not None:
                timeout = min(timeout, max(0.0, due - self.clock()))
        for key, mask in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake()
            else:
                self._serve(key.data, mask)
        while self._calls:
            callback, args = self._calls.popleft()
            self._guarded(callback, *args)
        self.timers.run_due(self.clock())

    def _serve(self, client: mqtt.Client, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ:
                client.loop_read()
            if mask & selectors.EVENT_WRITE:
                client.loop_write()
        except Exception:
            log.exception("%r failed while serving its socket", client.user_data_get())

    def _guarded(self, callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("a call handed to the loop failed")

    def _drain_wake(self) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _misc(self) -> None:
        """Call loop_misc on one slice of the clients, so each gets it once per period."""
        self.call_later(MISC_PERIOD_S / MISC_SLICES, self._misc)
        for client in self._clients[self._misc_slice :: MISC_SLICES]:
            if client.socket() is not None and client not in self._dark:
                try:
                    client.loop_misc()
                except Exception:
                    log.exception("loop_misc failed for %r", client.user_data_get())
        self._misc_slice = (self._misc_slice + 1) % MISC_SLICES
