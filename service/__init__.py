"""Running the service: ``swtts serve`` (:class:`Supervisor`) and a disposable :class:`EmbeddedService`."""

from swtts.service.embedded import EmbeddedService
from swtts.service.supervisor import Supervisor, threads_per_worker, worker_command

__all__ = ["EmbeddedService", "Supervisor", "threads_per_worker", "worker_command"]
