"""A log too large for one machine, prepared by Ray Data into the per-user Parquet sequences srlaw reads.

The engine does the part that needs the whole log at once: it reads the files in parallel, gathers each user's
interactions, orders them in time and writes one row per user (``user``, ``items``). srlaw then reads the parts a
record batch at a time (``--format parquet-sequences``) and prepares them as any input. On a cluster, pass
``--address`` and put input and output on storage every node sees. Needs Ray Data (``pip install 'ray[data]'``).
Run (the log here is small; the code is the same):

    python examples/ray_data_prepare.py --input data/ml-latest-small/ratings.csv --out .ray_data_example

Equal timestamps: srlaw's own readers keep the file's order; an engine reading files in parallel has no file order,
so this example breaks ties by item id. The counts srlaw prepares are the same either way (the example checks them);
the order of a user's same-second interactions may differ.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


MARK = "_written_by_srlaw_example"  # not a .parquet file: readers of the folder skip it


def sequences_with_ray_data(source: str, out: Path, user: str, item: str, time: str, address: str | None) -> int:
    """Write ``out/*.parquet``: one row per user, items in time order (ties by item id); returns the parts written."""
    import pandas as pd
    import ray

    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False

        def one_user(group: pd.DataFrame) -> pd.DataFrame:
            ordered = group.sort_values([time, item], kind="stable")
            return pd.DataFrame({"user": [int(ordered[user].iloc[0])],
                                 "items": [ordered[item].astype("int64").tolist()]})

        logs = ray.data.read_csv(source).select_columns([user, item, time])
        per_user = logs.groupby(user).map_groups(one_user, batch_format="pandas")
        per_user.write_parquet(str(out))
        return len(list(out.glob("*.parquet")))
    finally:
        ray.shutdown()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="a CSV log with a header (a file or a folder of files)")
    p.add_argument("--out", required=True, type=Path, help="a new folder for the Parquet parts")
    p.add_argument("--user", default="userId")
    p.add_argument("--item", default="movieId")
    p.add_argument("--time", default="timestamp")
    p.add_argument("--address", help="a Ray cluster (default: a local Ray instance)")
    args = p.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        if not (args.out / MARK).is_file():
            print(f"{args.out}: exists and holds files this example did not write; give a new folder (nothing was "
                  "written)", file=sys.stderr)
            return 2
        shutil.rmtree(args.out)  # this example's own earlier output
    args.out.mkdir(parents=True)
    (args.out / MARK).write_text("written by examples/ray_data_prepare.py\n")
    parts = sequences_with_ray_data(args.input, args.out, args.user, args.item, args.time, args.address)

    from srlaw.data.prepare import prepare, user_data
    engine, _ = prepare(user_data(args.out, "parquet-sequences"))
    direct, _ = prepare(user_data(args.input, "csv", {"user": args.user, "item": args.item, "timestamp": args.time}))
    same = [(engine.n_users, engine.n_items, len(engine.items)) == (direct.n_users, direct.n_items, len(direct.items))]
    print(json.dumps({"parquet": str(args.out), "parts": parts, "n_users": engine.n_users,
                      "n_items": engine.n_items, "n_interactions": int(len(engine.items)),
                      "same_counts_as_srlaw_reading_the_csv": same[0]}, indent=2))
    return 0 if same[0] else 1


if __name__ == "__main__":
    sys.exit(main())
