"""The ZeroMQ broker: load-balances chunks over workers and collects results in order."""
