"""The demo client: a synthetic telecom provider with planted, known ground truth.

:func:`simulate_demo` builds the world and its truth (``simulate``); :func:`generate_demo`
writes it as the raw files a client would send, with ``truth.json`` (``export``).
"""
from cxlib.demo.export import generate_demo, raw_frames
from cxlib.demo.simulate import (PLANTED, POPULATION_DRIVER_SHARES, POPULATION_SAMPLE, DemoData, canonical_events,
                                 population_driver_shares, simulate_demo)

__all__ = ["PLANTED", "POPULATION_DRIVER_SHARES", "POPULATION_SAMPLE", "DemoData", "canonical_events",
           "generate_demo", "population_driver_shares", "raw_frames", "simulate_demo"]
