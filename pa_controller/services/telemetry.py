"""Heartbeat history: raw samples for a short window, five-minute rollups for 90 days."""

from datetime import datetime


def record(messages: list[tuple[str, dict]], now: datetime) -> None:
    """Store the measurements of a batch of heartbeats from known clusters (called by ingest)."""
