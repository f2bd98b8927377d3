"""Simulated instruments: the physics plant and the protocol servers that expose it."""
