"""Build the course's filing room: data/users.sqlite, 100,000 users from a fixed seed.

    python data/make_users.py [--users N] [--seed S] [--out PATH]

simlab runs this itself the first time a notebook opens the filing room; run it by hand to
rebuild or to make a bigger table. The same N and seed give the same rows, byte for byte.
The file is written under a temporary name and renamed into place; notebooks open it read-only
(a lesson's writes go to a private copy), and `simlab clean --sqlite` removes it.
"""
import argparse
from pathlib import Path

from simlab.live.filing_room import N_USERS, SEED, build_sqlite

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=N_USERS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("users.sqlite"))
    args = parser.parse_args()
    print(build_sqlite(args.out, n=args.users, seed=args.seed))
