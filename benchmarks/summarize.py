"""Print search_quality.py's tables from one or more of its JSON files, as they are.

Useful for files written by earlier versions (method names as they were then) and for
joining files: ``python benchmarks/summarize.py a.json b.json --ours bo_hpo``.

``--manifest M.json`` joins exactly the runs a manifest names instead: for each problem and
method, the files, the method's name in each file (a variant that became the default, such as
``bo_hpo@init50``, is shown as ``bo_hpo``) and the seeds to take from it. File names are
relative to the manifest's ``results_dir`` (itself relative to the manifest). A run named
twice, or a seed, checkpoint or run a manifest promises but a file lacks, is an error, so a
table never silently mixes in other runs or leaves some out.

``--manifest M.json --repeats NEW.json ...`` checks instead that runs made again today
repeat the runs the manifest joins: for each run in the new files, the manifest's run of the
same method, problem and seed, the first trial whose configuration differs (none: the same
trials in the same order) and how many of the manifest's checkpoints give the same regret.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_quality import (  # noqa: E402
    _fmt,
    overall_table,
    regret_table,
    rules_table,
    verdict_table,
)


def manifest_runs(path: Path) -> list[dict]:
    """The runs a manifest names, each under the method name the manifest gives it."""
    manifest = json.loads(path.read_text())
    results = path.parent / manifest.get("results_dir", ".")
    want = [int(n) for n in manifest.get("checkpoints", [])]
    loaded: dict[str, list[dict]] = {}
    runs, seen = [], set()
    for problem, methods in manifest["problems"].items():
        for method, entries in methods.items():
            for entry in entries:
                file_runs = loaded.setdefault(
                    entry["file"], json.loads((results / entry["file"]).read_text())["runs"])
                found = {r["seed"]: r for r in file_runs
                         if r["problem"] == problem and r["method"] == entry["method"]
                         and r.get("phase", "quality") == "quality" and r["status"] == "ok"}
                for seed in entry["seeds"]:
                    key = (problem, method, seed)
                    if key in seen:
                        raise SystemExit(f"{path}: {problem} {method} seed {seed} is named twice")
                    if seed not in found:
                        raise SystemExit(f"{path}: {entry['file']} has no finished "
                                         f"{entry['method']} run of {problem}, seed {seed}")
                    r = dict(found[seed], method=method, source=entry["file"])
                    r["checkpoints"] = {int(k): v for k, v in r["checkpoints"].items()}
                    missing = [n for n in want if n not in r["checkpoints"]]
                    if missing:
                        raise SystemExit(f"{path}: {entry['file']}: {problem} {entry['method']} "
                                         f"seed {seed} has no checkpoint {missing}")
                    if want:  # the table's checkpoints only, though a run has more
                        r["checkpoints"] = {n: r["checkpoints"][n] for n in want}
                    seen.add(key)
                    runs.append(r)
    return runs


def finished_runs(files: list[Path] | list[str]) -> list[dict]:
    """The finished quality runs of search_quality.py files, in order, their checkpoints
    keyed by number (the files key them by string)."""
    runs = []
    for f in files:
        for r in json.loads(Path(f).read_text())["runs"]:
            if r.get("phase", "quality") == "quality" and r["status"] == "ok":
                runs.append(dict(r, checkpoints={int(k): v
                                                 for k, v in r["checkpoints"].items()}))
    return runs


def repeat_rows(joined: list[dict], new_runs: list[dict]) -> list[dict]:
    """For each new run, how closely it repeats the joined run of the same method, problem
    and seed (``KeyError`` naming it when the manifest has no such run)."""
    by_key = {(r["method"], r["problem"], r["seed"]): r for r in joined}
    rows = []
    for r in new_runs:
        key = (r["method"], r["problem"], r["seed"])
        if key not in by_key:
            raise KeyError(f"the manifest joins no {r['method']} run of {r['problem']}, "
                           f"seed {r['seed']}")
        old = by_key[key]
        old_trials = [t["config"] for t in sorted(old["trials"], key=lambda t: t["i"])]
        new_trials = [t["config"] for t in sorted(r["trials"], key=lambda t: t["i"])]
        pairs = zip(old_trials, new_trials, strict=False)  # a shorter run differs where it ends
        first = next((i for i, (a, b) in enumerate(pairs) if a != b),
                     None if len(old_trials) == len(new_trials)
                     else min(len(old_trials), len(new_trials)))
        new_cps = {int(n): v for n, v in r["checkpoints"].items()}
        same = [n for n in old["checkpoints"] if n in new_cps
                and old["checkpoints"][n]["regret"] == new_cps[n]["regret"]]
        rows.append({"method": r["method"], "problem": r["problem"], "seed": r["seed"],
                     "first_differing_trial": "none" if first is None else first,
                     "same_checkpoints": len(same), "checkpoints": len(old["checkpoints"]),
                     "capped_fits": sum(n["note"].get("capped_fits", 0) or 0
                                        for n in r.get("notes", [])),
                     "source": old["source"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--manifest", type=Path, help="join the runs this JSON manifest names")
    p.add_argument("--ours", default="bo_hpo", help="the method the verdict judges")
    p.add_argument("--no-rules", action="store_true", help="leave out the rules table")
    p.add_argument("--repeats", nargs="+", type=Path, metavar="NEW",
                   help="with --manifest: check that these files' runs repeat the joined ones")
    args = p.parse_args(argv)
    if bool(args.files) == bool(args.manifest):
        p.error("give either run files or --manifest")
    if args.repeats:
        if not args.manifest:
            p.error("--repeats needs --manifest")
        try:
            rows = repeat_rows(manifest_runs(args.manifest), finished_runs(args.repeats))
        except KeyError as err:
            p.error(err.args[0])
        import pandas as pd

        print(_fmt(pd.DataFrame(rows)))
        whole = sum(row["first_differing_trial"] == "none" for row in rows)
        same = sum(row["same_checkpoints"] for row in rows)
        total = sum(row["checkpoints"] for row in rows)
        print(f"\n# {whole} of {len(rows)} runs repeat trial for trial; {same} of {total} "
              "checkpoints give the same regret")
        return 0
    runs = finished_runs(args.files)
    if args.manifest:
        runs = manifest_runs(args.manifest)
        args.files = [args.manifest]
    checkpoints = sorted({n for r in runs for n in r["checkpoints"]})
    methods = list(dict.fromkeys(r["method"] for r in runs))
    problems = list(dict.fromkeys(r["problem"] for r in runs))
    seeds = sorted({r["seed"] for r in runs})
    reg = regret_table(runs, checkpoints, methods, problems)
    print(f"# median / p90 regret of the recommendation; seeds {seeds}; from "
          f"{', '.join(str(f) for f in args.files)}")
    print(_fmt(reg.drop(columns=[c for c in reg.columns if c.startswith("oracle")])))
    print("\n# mean over problems of the median regret; mean rank")
    print(_fmt(overall_table(reg, checkpoints)))
    ver = verdict_table(runs, checkpoints, ours=args.ours)
    if len(ver):
        print(f"\n# {args.ours} against the best other method (paired bootstrap over seeds, "
              "90% interval of the difference of medians)")
        print(_fmt(ver))
    rules = rules_table(runs, checkpoints)
    if len(rules) and not args.no_rules:
        print("\n# recommendation rules, mean over problems of the median regret")
        print(_fmt(rules.drop(columns=["problem"]).groupby(["method", "rule"]).mean()
                   .reset_index()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
