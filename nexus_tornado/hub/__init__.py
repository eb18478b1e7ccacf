"""Publish/subscribe hub, per-destination sequence numbers, replay; stores."""
