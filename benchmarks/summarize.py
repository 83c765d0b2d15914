"""Print search_quality.py's tables from one or more of its JSON files, as they are.

Useful for files written by earlier versions (method names as they were then) and for
joining files: ``python benchmarks/summarize.py a.json b.json --ours bo_hpo``.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--ours", default="bo_hpo", help="the method the verdict judges")
    p.add_argument("--no-rules", action="store_true", help="leave out the rules table")
    args = p.parse_args(argv)
    runs = []
    for f in args.files:
        for r in json.loads(f.read_text())["runs"]:
            if r.get("phase", "quality") == "quality" and r["status"] == "ok":
                r["checkpoints"] = {int(k): v for k, v in r["checkpoints"].items()}
                runs.append(r)
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
