"""The broker's scheduler, free of sockets: admission, dispatch policy, ordered collector, status."""

from swtts.broker.scheduler.core import Scheduler

__all__ = ["Scheduler"]
