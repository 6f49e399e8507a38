#!/usr/bin/env python3
"""Print the seed report's Tables 3-7 next to twinflow's runs of the same experiments.

The seed's numbers come from each pipelines/seed/*.ron header ("Seed's result: ..."), ours
from the results.csv files that `twinflow sweep` writes. Used to build docs/results.md:

    python3 scripts/docs/seed_compare.py runs/sweep-seed5/results.csv runs/sweep-seed-big/results.csv
"""
import csv
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def seed_rows():
    rows = {}
    for path in sorted((ROOT / "pipelines" / "seed").glob("*.ron")):
        text = path.read_text()
        head = re.search(r"^// Seed report, (Table \d+) \([^)]*\), Exp ([\d.]+): (.*)$", text, re.M)
        result = re.search(r"^// Seed's result: (.*)$", text, re.M)
        if not head or not result:
            sys.exit(f"{path}: no 'Seed report' / 'Seed's result' header")
        setting = head.group(3).rstrip(".")
        setting = re.sub(r" \(the report does not print.*\)", "", setting)
        m = re.match(r"([\d.]+) s, train ([\d.]+)%, val ([\d.]+)%", result.group(1))
        seed = ("-", "-", "-") if not m else (f"{float(m.group(1)):.0f}", m.group(2) + "%", m.group(3) + "%")
        rows[path.stem] = (head.group(1), head.group(2), setting, seed)
    return rows


def main(files):
    ours = {}
    for f in files:
        if not pathlib.Path(f).is_file():
            # A sweep not run (or not finished) leaves its rows "not run".
            print(f"{f}: no such file, its experiments show as not run", file=sys.stderr)
            continue
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                ours[r["run"]] = r
    print("| exp | table | setting | seed: s | seed: train | seed: val | ours: epochs (best) | ours: s | ours: train | ours: val | ours: test [95% CI] | ours: test AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for stem, (table, exp, setting, seed) in seed_rows().items():
        r = ours.get(stem)
        if r is None:
            mine = ("not run",) + ("-",) * 5
        else:
            mine = (
                f"{r['epochs']} ({r['best_epoch']})",
                r["seconds"],
                r["train_acc"],
                r["val_acc"],
                f"{r['test_acc']} {r['test_acc_ci95']}",
                r["test_auc"],
            )
        print("| " + " | ".join((exp, table, setting) + seed + mine) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
