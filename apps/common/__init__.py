"""Helpers shared by several apps (no models, not an installed app)."""
