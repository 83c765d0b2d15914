"""Kill a real ``bo-hpo run`` with SIGKILL at random moments, resume it, and count what
was lost.

Each repetition starts ``bo-hpo run`` on a small experiment whose objective sleeps (so the
kill lands in a trial, a proposal, a store write or start-up, wherever chance puts it),
kills it after a random delay, reads the store, runs ``bo-hpo run`` again to completion,
and checks:

- completed trials lost: trials completed in the store at the kill that are missing or
  changed afterwards (must be 0);
- duplicates: configurations evaluated more than once, a retry of an interrupted trial
  excepted (must be 0);
- budget: evaluated trials after the resume equal ``max_trials``.

    python benchmarks/kill_resume.py            # 20 kills
    python benchmarks/kill_resume.py --kills 5  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bo_hpo.store import open_store  # noqa: E402

EXPERIMENT = """
name = "kill"
evaluator = "objectives:slow"
seed = {seed}

[space]
lr = ["log_uniform", 1e-5, 1e-1]
dropout = ["uniform", 0.0, 0.5]
optimizer = ["choice", ["sgd", "adam"]]

[baseline]
lr = 1e-2
dropout = 0.1
optimizer = "sgd"

[budget]
max_trials = {trials}
"""


def _records(url: str) -> list:
    st = open_store(url)
    try:
        info = st.get_experiment("kill")
        return [] if info is None else st.trials(info.id)
    finally:
        st.close()


def one(rep: int, trials: int, rng: random.Random, work: Path) -> dict:
    folder = work / f"rep{rep}"
    folder.mkdir()
    path = folder / "kill.toml"
    path.write_text(EXPERIMENT.format(seed=rep, trials=trials))
    url = f"sqlite:///{folder / 'store.db'}"
    sleep = rng.uniform(0.2, 0.6)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"), BO_HPO_STORE=url,
               BO_HPO_TEST_SLEEP=f"{sleep:.3f}")
    # a random moment of the run: from its first write to the store (imports done) to
    # somewhat past its expected end
    delay = rng.uniform(0.0, trials * (sleep + 0.3))
    proc = subprocess.Popen([sys.executable, "-m", "bo_hpo.cli", "run", str(path)],
                            env=env, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (folder / "store.db").exists():
        time.sleep(0.01)
    while proc.poll() is None and not _records(url):
        time.sleep(0.01)
    time.sleep(delay)
    finished_before_kill = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = {r.trial: r for r in _records(url) if r.status == "completed"}
    running = sum(r.status == "running" for r in _records(url))
    env["BO_HPO_TEST_SLEEP"] = "0"
    resumed = subprocess.run([sys.executable, "-m", "bo_hpo.cli", "run", str(path)],
                             env=env, cwd=folder, capture_output=True, text=True)
    after = {r.trial: r for r in _records(url)}
    lost = sum(1 for n, r in at_kill.items()
               if n not in after or after[n].status != "completed"
               or after[n].config != r.config or after[n].mean != r.mean)
    evaluated = [r for r in after.values() if r.status in ("completed", "failed")]
    configs = [json.dumps(r.config, sort_keys=True) for r in evaluated]
    duplicates = len(configs) - len(set(configs))
    return {
        "rep": rep, "kill_after_first_write_s": round(delay, 2), "trial_sleep_s": round(sleep, 3),
        "finished_before_kill": finished_before_kill, "completed_at_kill": len(at_kill),
        "running_at_kill": running,
        "interrupted": sum(r.status == "interrupted" for r in after.values()),
        "retried": sum(r.generator == "retry" for r in after.values()),
        "evaluated_after": len(evaluated), "budget": trials,
        "completed_lost": lost, "duplicates": duplicates,
        "resume_exit": resumed.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--trials", type=int, default=10, help="max_trials of the experiment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "kill_resume.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.kills):
            row = one(rep, args.trials, rng, Path(tmp))
            rows.append(row)
            print(f"kill {rep + 1:>2}/{args.kills}: {row['kill_after_first_write_s']:5.2f} s "
                  f"after the first trial was written, "
                  f"{row['completed_at_kill']} completed and {row['running_at_kill']} running "
                  f"at the kill; after resume {row['evaluated_after']}/{row['budget']} "
                  f"evaluated, {row['retried']} retried, lost {row['completed_lost']}, "
                  f"duplicates {row['duplicates']}, exit {row['resume_exit']}", flush=True)
    lost = sum(r["completed_lost"] for r in rows)
    dups = sum(r["duplicates"] for r in rows)
    budget_ok = sum(r["evaluated_after"] == r["budget"] for r in rows)
    mid_trial = sum(r["running_at_kill"] > 0 for r in rows)
    print()
    print("| kills | killed mid-trial | completed trials lost | duplicates | budget exact | "
          "resume exit 0 |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(rows)} | {mid_trial} | {lost} | {dups} | {budget_ok}/{len(rows)} | "
          f"{sum(r['resume_exit'] == 0 for r in rows)}/{len(rows)} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load": os.getloadavg()},
        "args": vars(args), "rows": rows,
        "totals": {"completed_lost": lost, "duplicates": dups, "budget_exact": budget_ok,
                   "killed_mid_trial": mid_trial},
    }, indent=2) + "\n")
    print(f"written: {out}")
    if lost or dups:
        sys.exit(1)


if __name__ == "__main__":
    main()
