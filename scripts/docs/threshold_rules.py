#!/usr/bin/env python3
"""Do other ways of choosing the threshold on validation generalise better? (docs/results.md)

The accuracy twinflow reports uses the threshold with the best accuracy on the validation
pairs (the lowest of tied candidates). This compares that rule with four others, on
validation data only, never test: each of K random stratified halvings of a run's validation
pairs chooses a threshold on one half by each rule and measures the balanced accuracy on the
other half (pairsDevTest is 50/50).

Validation pairs are the seed's split of pairsDevTrain.txt (same pairs A-E, different pairs
by first name A-C: 343 + 379). The LFW pairs format needs as many same as different pairs per
file, so they are scored as two files, `val-a` (343 + 343) and `val-b` (36 + 36, of which
only the 36 different pairs are used), and the scores are read back from `roc.csv`:

    python3 scripts/docs/threshold_rules.py pairs ../shared/lfwa/pairsDevTrain.txt out/
    for r in long40-1 long-1; do for p in a b; do
      twinflow eval --run runs/$r --pairs out/val-$p.txt --out out/$r-$p; done; done
    python3 scripts/docs/threshold_rules.py study out/ long40-1 long-1
"""
import csv
import pathlib
import random
import statistics
import sys


def write_pairs(train_pairs, out):
    same, different = [], []
    for line in pathlib.Path(train_pairs).read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 3 and fields[0][0].upper() in "ABCDE":
            same.append(line)
        elif len(fields) == 4 and fields[0][0].upper() in "ABC":
            different.append(line)
    if len(different) < len(same):
        sys.exit(f"expected more different than same validation pairs, got {len(same)}/{len(different)}")
    extra = len(different) - len(same)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "val-a.txt").write_text(f"{len(same)}\n" + "\n".join(same + different[: len(same)]) + "\n")
    (out / "val-b.txt").write_text(f"{extra}\n" + "\n".join(same[:extra] + different[len(same):]) + "\n")
    print(f"{len(same)} same, {len(different)} different validation pairs -> {out}/val-a.txt, val-b.txt")
    return len(same), extra


def scores_from_roc(path, positives, negatives):
    """(score, is_same) per pair, rebuilt from the ROC's steps (one per distinct score)."""
    rows = list(csv.DictReader(open(path)))
    out, tp0, fp0 = [], 0, 0
    for row in rows[1:]:
        t = float(row["threshold"])
        tp, fp = round(float(row["tpr"]) * positives), round(float(row["fpr"]) * negatives)
        out += [(t, True)] * (tp - tp0) + [(t, False)] * (fp - fp0)
        tp0, fp0 = tp, fp
    return out


def candidates(data):
    """Per candidate threshold (midpoints, plus one below and above all): (t, tp, tn)."""
    d = sorted(data)
    s = sorted({x[0] for x in d})
    cands = [s[0] - 1e-6] + [(a + b) / 2 for a, b in zip(s, s[1:])] + [s[-1] + 1e-6]
    tp, tn, i, out = sum(1 for x in d if x[1]), 0, 0, []
    for c in cands:
        while i < len(d) and d[i][0] < c:
            if d[i][1]:
                tp -= 1
            else:
                tn += 1
            i += 1
        out.append((c, tp, tn))
    return out


def counts(data):
    p = sum(1 for x in data if x[1])
    return p, len(data) - p


def best_by(data, value, pick):
    res = candidates(data)
    p, n = counts(data)
    best = max(value(tp, tn, p, n) for _, tp, tn in res)
    tied = [c for c, tp, tn in res if value(tp, tn, p, n) == best]
    return tied[0] if pick == "lowest" else tied[len(tied) // 2]


def accuracy(tp, tn, p, n):
    return tp + tn


def balanced(tp, tn, p, n):
    return tp / p + tn / n


def eer(data):
    p, n = counts(data)
    return min(candidates(data), key=lambda r: abs((p - r[1]) / p - (n - r[2]) / n))[0]


def bagged(data, resamples=100):
    rng = random.Random(1)
    picks = [best_by([rng.choice(data) for _ in data], accuracy, "middle") for _ in range(resamples)]
    return statistics.median(picks)


RULES = {
    "max accuracy, lowest tie (ours)": lambda d: best_by(d, accuracy, "lowest"),
    "max accuracy, middle tie": lambda d: best_by(d, accuracy, "middle"),
    "max balanced accuracy": lambda d: best_by(d, balanced, "middle"),
    "equal error rate": eer,
    "bagged (median of 100 bootstraps)": bagged,
}


def balanced_accuracy(data, t):
    p, n = counts(data)
    tp = sum(1 for s, l in data if l and s >= t)
    tn = sum(1 for s, l in data if not l and s < t)
    return (tp / p + tn / n) / 2


def study(folder, runs, halvings=40):
    folder = pathlib.Path(folder)
    means = {rule: [] for rule in RULES}
    print("| run | " + " | ".join(RULES) + " |")
    print("|---|" + "---|" * len(RULES))
    for run in runs:
        a = scores_from_roc(folder / f"{run}-a" / "roc.csv", 343, 343)
        b = scores_from_roc(folder / f"{run}-b" / "roc.csv", 36, 36)
        data = a + [x for x in b if not x[1]]
        same = [x for x in data if x[1]]
        different = [x for x in data if not x[1]]
        rng = random.Random(7)
        got = {rule: [] for rule in RULES}
        for _ in range(halvings):
            rng.shuffle(same)
            rng.shuffle(different)
            choose = same[: len(same) // 2] + different[: len(different) // 2]
            measure = same[len(same) // 2:] + different[len(different) // 2:]
            for rule, f in RULES.items():
                got[rule].append(balanced_accuracy(measure, f(choose)))
        cells = []
        for rule in RULES:
            means[rule].append(statistics.mean(got[rule]))
            cells.append(f"{100 * means[rule][-1]:.2f}%")
        print(f"| {run} | " + " | ".join(cells) + " |", flush=True)
    print("| mean | " + " | ".join(f"{100 * statistics.mean(v):.2f}%" for v in means.values()) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pairs":
        write_pairs(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "study":
        study(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
