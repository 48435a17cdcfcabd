"""A named daemon thread with a stop flag: the shape shared by the inbox writer and the outbox publisher."""

import threading


class WorkerThread:
    """Subclasses implement `_run`, looping until `self._stop` is set."""

    def __init__(self, name: str):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 5) -> None:
        self._stop.set()
        self._interrupt()
        self._thread.join(timeout_s)

    def _interrupt(self) -> None:
        """Wake `_run` if it may be waiting; nothing by default."""

    def _run(self) -> None:
        raise NotImplementedError
