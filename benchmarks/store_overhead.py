"""Per-trial storage overhead of the bo_hpo store (SQLite; optionally PostgreSQL).

Two measurements, N trials each (default 500; ``--trials``, ``--quick`` = 100):

1. **direct**: a fresh store (a SQLite file in a new temporary directory), one experiment,
   and N times what the tuning loop writes per trial: ``add_trial`` (status ``running``),
   ``finish_trial`` (``completed``, with metrics) and ``update_experiment(seconds_spent=...)``,
   with a realistic 8-parameter config (floats, ints, strings). Reports the median, p90 and
   max milliseconds per trial (the three calls together), the same over the first and the
   last 50 trials (does it grow with the table?), and the time of ``SQLStore.trials`` for
   the N trials afterwards. ``--postgres URL`` repeats it on PostgreSQL (the URL is only
   ever shown redacted; the benchmark's experiment is deleted afterwards).
2. **end to end**: ``bo_hpo.tune(method="random")`` with an instant objective on an
   8-parameter mixed space, once without a store and once with ``store=sqlite:///...``
   (same seed, so the same configs), after a short warm-up of both (imports, Ax set-up).
   Reports total seconds and (with - without) / N milliseconds per trial, the seconds spent
   inside store calls during the stored run (every ``SQLStore`` method timed, heartbeat
   thread included), and the time of ``bo_hpo.load(name, store=...)`` and of
   ``SQLStore.trials`` afterwards.

Target: under 20 ms per trial on SQLite (Ax's own SQL store was measured at 0.3-0.6 s per
trial). Prints markdown tables; writes JSON to ``benchmarks/results/store_overhead.json``.

Usage::

    python benchmarks/store_overhead.py --quick                  # smoke test, ~15 s
    python benchmarks/store_overhead.py                          # 500 trials
    eval "$(bash .ci/postgres.sh)"
    python benchmarks/store_overhead.py --postgres "$BO_HPO_TEST_POSTGRES_URL"
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import logging
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bo_hpo  # noqa: E402
from bo_hpo.space import SearchSpace  # noqa: E402
from bo_hpo.store import Owner, SQLStore, open_store, redact  # noqa: E402
from bo_hpo.trial import TrialRecord  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "store_overhead.json"
TARGET_MS = 20.0
WINDOW = 50  # trials in the "first" and "last" windows of the growth columns

#: 8 parameters: log floats, plain floats, ints, a log int, categoricals (strings), ordered.
SPACE: dict[str, Any] = {
    "learning_rate": ("log_uniform", 1e-5, 1e-1),
    "weight_decay": ("log_uniform", 1e-6, 1e-1),
    "dropout": ("uniform", 0.0, 0.5),
    "num_layers": ("int", 2, 12),
    "hidden_dim": ("log_int", 32, 1024),
    "optimizer": ("choice", ["sgd", "adam", "adamw"]),
    "activation": ("choice", ["relu", "gelu", "silu", "tanh"]),
    "batch_size": ("ordered", [16, 32, 64, 128, 256]),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def objective(config: dict[str, Any]) -> dict[str, Any]:
    """Instant, deterministic, and returns several metrics like a training run would."""
    loss = (abs(np.log10(config["learning_rate"]) + 3.0) + config["dropout"]
            + 0.01 * config["num_layers"] + (0.1 if config["optimizer"] == "sgd" else 0.0))
    return {"val_loss": (loss, 0.01), "val_acc": 1.0 / (1.0 + loss), "train_loss": 0.9 * loss}


def sample_config(rng: random.Random) -> dict[str, Any]:
    return {
        "learning_rate": 10 ** rng.uniform(-5, -1),
        "weight_decay": 10 ** rng.uniform(-6, -1),
        "dropout": rng.uniform(0.0, 0.5),
        "num_layers": rng.randint(2, 12),
        "hidden_dim": int(round(2 ** rng.uniform(5, 10))),
        "optimizer": rng.choice(["sgd", "adam", "adamw"]),
        "activation": rng.choice(["relu", "gelu", "silu", "tanh"]),
        "batch_size": rng.choice([16, 32, 64, 128, 256]),
    }


# ======================================================================================
# 1. direct


def time_direct(url: str, n: int, seed: int) -> dict[str, Any]:
    """N x (add_trial running + finish_trial completed + update_experiment seconds)."""
    store = open_store(url)
    space = SearchSpace(SPACE)
    owner = Owner.current()
    name = f"store-overhead-{uuid.uuid4().hex[:10]}"
    info = store.create_experiment(
        name, spec={"space": {k: list(v) for k, v in SPACE.items()}, "method": "random"},
        fingerprint=space.fingerprint(), source="benchmark", minimize=True, seed=seed,
        device=None, versions=_versions(), space=space.to_dict(), owner=owner,
    )
    rng = random.Random(seed)
    per_call: dict[str, list[float]] = {"add_trial": [], "finish_trial": [],
                                        "update_experiment": []}
    total: list[float] = []
    opened = time.monotonic()
    try:
        for i in range(n):
            config = sample_config(rng)
            record = TrialRecord(
                trial=i, config=config, status="running", generator="Sobol",
                proposal_seconds=rng.uniform(0.01, 0.05), started_at=time.time(),
                worker=f"{owner.host}:{owner.pid}",
            )
            t0 = time.perf_counter()
            store.add_trial(info.id, record, owner=owner, space_version=info.space_version)
            t1 = time.perf_counter()
            loss = rng.uniform(0.2, 2.0)
            record.status, record.mean, record.sem = "completed", loss, 0.01
            record.ended_at = time.time()
            record.eval_seconds = rng.uniform(10.0, 600.0)
            record.metrics = {"val_loss": (loss, 0.01), "val_acc": (1 / (1 + loss), None),
                              "train_loss": (0.9 * loss, None)}
            record.metadata = {"epochs": 10, "n_params": rng.randint(10_000, 5_000_000),
                               "device": "cuda:0"}
            t2 = time.perf_counter()
            store.finish_trial(info.id, record)
            t3 = time.perf_counter()
            store.update_experiment(info.id, seconds_spent=time.monotonic() - opened)
            t4 = time.perf_counter()
            per_call["add_trial"].append(t1 - t0)
            per_call["finish_trial"].append(t3 - t2)
            per_call["update_experiment"].append(t4 - t3)
            total.append((t1 - t0) + (t4 - t2))
        t0 = time.perf_counter()
        records = store.trials(info.id)
        trials_read = time.perf_counter() - t0
        assert len(records) == n and all(r.status == "completed" for r in records)
        server = _server_version(store)
    finally:
        if store.backend == "postgresql":  # leave nothing behind in someone's database
            from bo_hpo.store.schema import experiments

            with store.engine.begin() as conn:
                conn.execute(experiments.delete().where(experiments.c.id == info.id))
        store.close()
    return {
        "backend": store.backend, "store": redact(url), "server_version": server,
        "trials": n, **_stats(total),
        "per_call_median_ms": {k: 1000 * float(np.median(v)) for k, v in per_call.items()},
        "trials_read_ms": 1000 * trials_read,
        "per_trial_ms": [1000 * t for t in total],
    }


def _stats(seconds: list[float]) -> dict[str, Any]:
    ms = np.asarray(seconds) * 1000
    w = min(WINDOW, len(ms) // 2)
    first, last = ms[:w], ms[-w:]
    return {
        "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
        "max_ms": float(ms.max()), "mean_ms": float(ms.mean()),
        "window": w, "first_label": f"1-{w}", "last_label": f"{len(ms) - w + 1}-{len(ms)}",
        "first_median_ms": float(np.median(first)), "last_median_ms": float(np.median(last)),
        "first_p90_ms": float(np.percentile(first, 90)),
        "last_p90_ms": float(np.percentile(last, 90)),
        "first_max_ms": float(first.max()), "last_max_ms": float(last.max()),
    }


def _server_version(store: SQLStore) -> str | None:
    try:
        with store.engine.connect() as conn:
            if store.backend == "postgresql":
                return str(conn.exec_driver_sql("SHOW server_version").scalar())
            return "sqlite " + str(conn.exec_driver_sql("SELECT sqlite_version()").scalar())
    except Exception:  # noqa: BLE001 - informational only
        return None


# ======================================================================================
# 2. end to end


class StoreTimer:
    """Times every public ``SQLStore`` method (all threads) while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> StoreTimer:
        for attr, fn in vars(SQLStore).items():
            if attr.startswith("_") or not callable(fn) or isinstance(fn, staticmethod):
                continue
            self._saved[attr] = fn
            setattr(SQLStore, attr, self._wrap(attr, fn))
        return self

    def __exit__(self, *exc: Any) -> None:
        for attr, fn in self._saved.items():
            setattr(SQLStore, attr, fn)

    def _wrap(self, attr: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                with self._lock:
                    self.seconds[attr] = self.seconds.get(attr, 0.0) + dt
                    self.calls[attr] = self.calls.get(attr, 0) + 1

        return timed


def time_end_to_end(n: int, seed: int, workdir: Path, repeats: int) -> dict[str, Any]:
    def run(store: str | None, name: str | None, budget: int) -> tuple[float, Any]:
        t0 = time.perf_counter()
        result = bo_hpo.tune(objective, SPACE, budget=budget, method="random", seed=seed,
                             metric="val_loss", store=store, name=name)
        return time.perf_counter() - t0, result

    log("end to end: warm-up (imports, Ax set-up, store migration)")
    run(None, None, 5)
    run(f"sqlite:///{workdir / 'warmup.db'}", "warmup", 5)

    without: list[float] = []
    with_store: list[float] = []
    timers: list[StoreTimer] = []
    same_configs = True
    url = name = ""
    for r in range(repeats):  # alternate, so drifting machine load hits both alike
        log(f"end to end {r + 1}/{repeats}: {n} trials without a store")
        t_plain, plain = run(None, None, n)
        url = f"sqlite:///{workdir / f'e2e_{r}.db'}"
        name = f"store-overhead-e2e-{r}"
        log(f"end to end {r + 1}/{repeats}: {n} trials with {url}")
        with StoreTimer() as timer:
            t_stored, stored = run(url, name, n)
        without.append(t_plain)
        with_store.append(t_stored)
        timers.append(timer)
        cols = list(SPACE)
        same_configs &= (len(plain.trials) == len(stored.trials) == n
                         and plain.trials[cols].equals(stored.trials[cols]))

    t0 = time.perf_counter()
    loaded = bo_hpo.load(name, store=url)
    load_s = time.perf_counter() - t0
    assert len(loaded.trials) == n
    store = open_store(url)
    info = store.get_experiment(name)
    assert info is not None
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        records = store.trials(info.id)
        reads.append(time.perf_counter() - t0)
    assert len(records) == n
    store.close()

    i = int(np.argsort(with_store)[len(with_store) // 2])  # the median stored run's timer
    timer = timers[i]
    store_s = sum(timer.seconds.values())
    t_without, t_with = float(np.median(without)), float(np.median(with_store))
    return {
        "trials": n, "repeats": repeats, "seed": seed,
        "without_store_s": t_without, "with_store_s": t_with,
        "without_store_all_s": without, "with_store_all_s": with_store,
        "overhead_ms_per_trial": 1000 * (t_with - t_without) / n,
        "store_calls_s": store_s, "store_calls_ms_per_trial": 1000 * store_s / n,
        "store_calls": {k: {"calls": timer.calls[k], "seconds": timer.seconds[k]}
                        for k in sorted(timer.seconds, key=timer.seconds.get, reverse=True)},
        "same_configs": bool(same_configs),
        "load_s": load_s, "trials_read_ms": 1000 * reads[0],
        "trials_read_all_ms": [1000 * x for x in reads],
        "db_bytes": _db_size(url),
    }


def _db_size(url: str) -> int | None:
    path = Path(url.removeprefix("sqlite:///"))
    files = [path, Path(f"{path}-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) or None


# ======================================================================================
# output


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def direct_table(rows: list[dict[str, Any]]) -> str:
    w = rows[0]
    headers = ["backend", "trials", "median ms", "p90 ms", "max ms",
               f"median {w['first_label']}", f"median {w['last_label']}",
               f"p90 {w['first_label']}", f"p90 {w['last_label']}",
               "add / finish / update (median ms)", "trials() ms", "target"]
    out = []
    for r in rows:
        calls = r["per_call_median_ms"]
        out.append([
            r["backend"], r["trials"], f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}",
            f"{r['max_ms']:.2f}", f"{r['first_median_ms']:.2f}", f"{r['last_median_ms']:.2f}",
            f"{r['first_p90_ms']:.2f}", f"{r['last_p90_ms']:.2f}",
            " / ".join(f"{calls[k]:.2f}" for k in ("add_trial", "finish_trial",
                                                    "update_experiment")),
            f"{r['trials_read_ms']:.1f}",
            "ok" if r["p90_ms"] < TARGET_MS else f"MISSED (p90 >= {TARGET_MS:g} ms)",
        ])
    return md_table(headers, out)


def e2e_table(e: dict[str, Any]) -> str:
    headers = ["trials", "without store s", "with store s", "(with - without)/N ms",
               "in store calls ms/trial", "same configs", "load() s", "trials() ms", "target"]
    ok = max(e["overhead_ms_per_trial"], e["store_calls_ms_per_trial"]) < TARGET_MS
    return md_table(headers, [[
        e["trials"], f"{e['without_store_s']:.2f}", f"{e['with_store_s']:.2f}",
        f"{e['overhead_ms_per_trial']:.2f}", f"{e['store_calls_ms_per_trial']:.2f}",
        "yes" if e["same_configs"] else "NO", f"{e['load_s']:.3f}",
        f"{e['trials_read_ms']:.1f}", "ok" if ok else f"MISSED ({TARGET_MS:g} ms)",
    ]])


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("bo-hpo", "ax-platform", "sqlalchemy", "alembic", "psycopg", "numpy",
                "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    import sqlite3

    out["sqlite"] = sqlite3.sqlite_version
    return out


def _filesystem(path: Path) -> str | None:
    """The type of the filesystem holding ``path`` (ext4, tmpfs, ...), from /proc/mounts."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    path = path.resolve()
    best = max((m for m in mounts if path.is_relative_to(m[0])), key=lambda m: len(m[0]),
               default=None)
    return best[1] if best else None


def _host() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "loadavg": list(os.getloadavg())}


# ======================================================================================
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500, help="trials per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="end-to-end runs of each kind, alternated (medians reported)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="also run the direct measurement on this PostgreSQL store "
                             "(postgresql+psycopg://user:password@host/db; shown redacted)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the temporary SQLite files go (default: the system's "
                             "temporary directory); the filesystem matters")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verbose", action="store_true", help="let library logs through")
    args = parser.parse_args(argv)
    n = 100 if args.quick else args.trials
    if n < 2 or args.repeats < 1:
        parser.error("--trials must be >= 2 and --repeats >= 1")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    if not args.verbose:
        import warnings

        warnings.filterwarnings("ignore")
        for name in ("ax", "bo_hpo"):
            logging.getLogger(name).setLevel(logging.ERROR)

    started = _dt.datetime.now().isoformat(timespec="seconds")
    host = _host()
    argv_shown = [redact(a) if a.startswith("postgres") else a
                  for a in (sys.argv[1:] if argv is None else argv)]
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix="bo_hpo_store_overhead_", dir=args.dir) as tmp:
        workdir = Path(tmp)
        direct: list[dict[str, Any]] = []
        log(f"direct: {n} trials on SQLite in {workdir}")
        direct.append(time_direct(f"sqlite:///{workdir / 'direct.db'}", n, args.seed))
        if args.postgres:
            log(f"direct: {n} trials on {redact(args.postgres)}")
            direct.append(time_direct(args.postgres, n, args.seed))
        e2e = None if args.no_e2e else time_end_to_end(n, args.seed, workdir, args.repeats)
        fs = _filesystem(workdir)

    host["loadavg_at_end"] = list(os.getloadavg())
    print(f"\nbo_hpo store overhead, {n} trials; {host['platform']}, python {host['python']}, "
          f"{host['cpu_count']} cpus, load {host['loadavg'][0]:.2f} -> "
          f"{host['loadavg_at_end'][0]:.2f}; SQLite on {fs or 'unknown fs'}; target "
          f"< {TARGET_MS:g} ms per trial\n")
    print("Direct (add_trial + finish_trial + update_experiment, per trial):\n")
    print(direct_table(direct))
    for r in direct:
        print(f"\n{r['backend']}: {r['store']} ({r['server_version']})")
    if e2e is not None:
        print(f"\nEnd to end (bo_hpo.tune, method=random, instant objective, "
              f"{len(SPACE)} params, seed {args.seed}):\n")
        print(e2e_table(e2e))
        top = ", ".join(f"{k} {v['calls']}x {1000 * v['seconds']:.0f} ms"
                        for k, v in list(e2e["store_calls"].items())[:6])
        print(f"\nstore calls in the stored run: {top}")

    doc = {
        "meta": {"script": "benchmarks/store_overhead.py", "argv": argv_shown,
                 "started": started, "elapsed_seconds": round(time.time() - t_start, 1),
                 "host": host, "sqlite_filesystem": fs, "versions": _versions(),
                 "target_ms_per_trial": TARGET_MS, "trials": n, "seed": args.seed,
                 "space": {k: list(v) for k, v in SPACE.items()}},
        "direct": direct,
        "end_to_end": e2e,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
