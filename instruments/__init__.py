"""Instrument layer: capability protocols, real-model drivers, transports, and the simulator.

Nothing here imports pytest or the bench's plan machinery; values cross the boundary as pint
quantities from `bench.units`.
"""
