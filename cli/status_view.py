"""Text rendering of the broker's status snapshot for ``swtts status``."""

from __future__ import annotations

from swtts.protocol import StatusReply


def render_status(snapshot: StatusReply, previous: StatusReply | None, interval_s: float) -> str:
    """Workers, queue, cache and throughput (audio seconds per second since the last snapshot)."""
    lines = [f"swtts broker, up {snapshot.uptime_s:.0f} s"]
    audio = snapshot.audio_seconds_total
    if previous is not None and interval_s > 0:
        rate = (audio - previous.audio_seconds_total) / interval_s
        lines.append(f"throughput: {rate:.2f} audio s/s ({audio:.0f} s produced)")
    else:
        lines.append(f"audio produced: {audio:.0f} s")
    queue = snapshot.queue
    lines.append(
        f"queue: {queue.requests} request(s), {queue.pending_chunks} chunk(s) waiting, "
        f"{queue.in_flight_chunks} in flight"
    )
    lines.append("")
    lines.append(f"{'worker':<28} {'voice':<22} {'device':<8} {'state':<7} {'done':>6} {'solo':>6} {'late':>5}")
    for worker in snapshot.workers:
        lines.append(
            f"{worker.worker:<28} {worker.voice:<22} {worker.device:<8} {worker.state.value:<7}"
            f" {worker.chunks_done:>6} {worker.solo_chunks:>6} {worker.missed_deadlines:>5}"
        )
    cache = snapshot.cache
    lines.append("")
    if cache:
        lines.append(
            f"cache: {cache.entries} entries, {cache.bytes_stored / 2**20:.1f} MiB stored "
            f"(ratio {cache.compression_ratio:.2f}), hit rate {cache.hit_rate:.0%} "
            f"({cache.hits} hits, {cache.misses} misses), {cache.evictions} evictions"
        )
    else:
        lines.append("cache: off")
    return "\n".join(lines)
