"""Piper worker processes: one loaded voice each, fed chunks by the broker."""
