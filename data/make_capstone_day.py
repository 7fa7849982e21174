"""Record notebook 12's day of shop traffic: ``data/capstone_day.npz`` (seeded; a few seconds).

    python data/make_capstone_day.py            # the course's day (seed 20261201)
    python data/make_capstone_day.py --seed 7   # another day, same shape

The notebook builds the file on first use if it is missing; it is not committed (.gitignore).
What is in the day: see :mod:`simlab.capstone`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simlab import capstone


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=capstone.SEED)
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: data/capstone_day.npz)")
    args = parser.parse_args(argv)
    tic = time.perf_counter()
    path = capstone.save_day(args.out or capstone.day_path(), seed=args.seed)
    day = capstone.load_day(path)
    print(f"{path}: {day['t'].size:,} requests over one day, seed {args.seed}, "
          f"{time.perf_counter() - tic:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
