"""Recompute the demo's population driver shares (cxlib.demo.POPULATION_DRIVER_SHARES).

Run after changing the relationship-survey model in cxlib/demo/*.py and paste the printed
mapping into POPULATION_DRIVER_SHARES:

    .venv/bin/python tools/population_driver_shares.py
"""
import json

from cxlib.demo import POPULATION_SAMPLE, population_driver_shares

if __name__ == "__main__":
    shares = population_driver_shares(**POPULATION_SAMPLE)
    print(json.dumps({k: round(v, 4) for k, v in shares.items()}, indent=4))
