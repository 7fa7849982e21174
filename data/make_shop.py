"""Build the shop in the filing room: data/shop.sqlite, from a fixed seed.

    python data/make_shop.py [--orders N] [--products N] [--seed S] [--out PATH]

100,000 users (the course's), 10,000 products and 1,000,000 orders over two years, with the
indexes the lesson's queries use. simlab builds it itself the first time notebook 02 opens the
shop; postBuild runs this so that Binder has it ready. The same sizes and seed give the same
rows. With DATABASE_URL set the notebooks load the same rows into PostgreSQL (simlab's schema).
"""
import argparse
import time
from pathlib import Path

from simlab.live.filing_room import N_USERS, SEED
from simlab.live.shop import N_ORDERS, N_PRODUCTS, build_shop_sqlite

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=N_USERS)
    parser.add_argument("--products", type=int, default=N_PRODUCTS)
    parser.add_argument("--orders", type=int, default=N_ORDERS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("shop.sqlite"))
    args = parser.parse_args()
    tic = time.perf_counter()
    path = build_shop_sqlite(args.out, n_users=args.users, n_products=args.products,
                             n_orders=args.orders, seed=args.seed)
    print(f"{path} ({time.perf_counter() - tic:.1f} s)")
