"""How much does the MLP evaluator cost over a minimal hand-written PyTorch loop?

Runs ``bo_hpo.evaluators.mlp.evaluate`` and a bare loop (same model, optimizer, batch size, data
and thread count; no schedule, no checks) alternately, several times, and compares the medians of
their per-epoch training time (``ratio`` = ours / bare; the target is <= 1.1). Both clocks run
over the same span, from building the model and optimizer to the last step's end, as
``evaluate``'s ``train_seconds`` does; ``ratio_loop_only`` keeps the earlier measure, where the
bare clock started after the build (a few milliseconds a run, noticeable on the 4,000-image
subset). Also times the transformer evaluator per optimisation step. Prints a table and writes
JSON.

Usage::

    python benchmarks/evaluator_speed.py                      # embedded subset, CPU-sized
    python benchmarks/evaluator_speed.py --data-dir ../shared/data/fashion-mnist --device cuda
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bo_hpo.evaluators import _train as T  # noqa: E402
from bo_hpo.evaluators import mlp, transformer  # noqa: E402
from bo_hpo.evaluators.data import load_fashion_mnist, load_shakespeare  # noqa: E402

logger = logging.getLogger("evaluator_speed")

CPU_GPT = {"num_layers": 4, "hidden_dim": 128, "num_heads": 4, "block_size": 128, "batch_size": 32}
BABY_GPT = {  # nanoGPT's shakespeare_char "baby GPT"
    "num_layers": 6,
    "hidden_dim": 384,
    "num_heads": 6,
    "block_size": 256,
    "batch_size": 64,
    "dropout": 0.2,
}

DOC_GPT = {  # the baseline of experiments/transformer_shakespeare.toml (the document's space)
    "num_layers": 6,
    "hidden_dim": 768,
    "num_heads": 12,
    "mlp_ratio": 4,
    "block_size": 256,
    "batch_size": 64,
    "dropout": 0.1,
}


def bare_loop(
    config: dict[str, Any], data: Any, epochs: int, device: torch.device, seed: int
) -> tuple[float, float, float]:
    """The textbook loop: tensors on the device, randperm batches, AdamW. Returns (seconds of
    training, from building the model on; seconds of the loop alone; seconds of the whole call
    including data prep and validation)."""
    t_call = time.perf_counter()
    torch.manual_seed(seed)
    x = torch.from_numpy(data.x_train.reshape(len(data.x_train), -1)).to(device).float() / 255
    y = torch.from_numpy(data.y_train.astype("int64")).to(device)
    x = (x - x.mean()) / x.std()
    T.synchronize(device)
    t_build = time.perf_counter()  # where evaluate()'s train_seconds starts
    h, layers = config["hidden_dim"], []
    width = 784
    for _ in range(config["num_layers"]):
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config["dropout"])]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 10)).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"]
    )
    bs = config["batch_size"]
    T.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x)).to(device)
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            with T.autocast(device):
                loss = F.cross_entropy(model(x[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    T.synchronize(device)
    t_end = time.perf_counter()
    model.eval()
    with torch.no_grad():
        xv = torch.from_numpy(data.x_val.reshape(len(data.x_val), -1)).to(device).float() / 255
        float((model(xv).argmax(1).cpu() != torch.from_numpy(data.y_val)).float().mean())
    return t_end - t_build, t_end - t0, time.perf_counter() - t_call


def compare_mlp(
    data: Any, config: dict[str, Any], epochs: int, repeats: int, device: torch.device
) -> dict[str, Any]:
    ours_train, ours_call, bare_train, bare_loop_only, bare_call = [], [], [], [], []
    ours_cpu, bare_cpu = [], []  # process CPU seconds: steadier than wall time on a busy box
    mlp.evaluate(config, data=data, epochs=1, device=device)  # warm-up (allocator, kernels)
    bare_loop(config, data, 1, device, 0)
    for r in range(repeats):  # alternate, so drifting machine load hits both alike
        t, c = time.perf_counter(), time.process_time()
        ev = mlp.evaluate(config, data=data, epochs=epochs, device=device, seed=r)
        ours_call.append((time.perf_counter() - t) / epochs)
        ours_cpu.append((time.process_time() - c) / epochs)
        ours_train.append(ev.metadata["train_seconds"] / epochs)
        c = time.process_time()
        tr, loop_only, call = bare_loop(config, data, epochs, device, r)
        bare_cpu.append((time.process_time() - c) / epochs)
        bare_train.append(tr / epochs)
        bare_loop_only.append(loop_only / epochs)
        bare_call.append(call / epochs)
    med = statistics.median
    return {
        "n_train": len(data.x_train),
        "epochs_per_run": epochs,
        "repeats": repeats,
        "ours_epoch_s": med(ours_train),
        "bare_epoch_s": med(bare_train),
        "ratio": med(ours_train) / med(bare_train),
        "bare_loop_only_epoch_s": med(bare_loop_only),
        "ratio_loop_only": med(ours_train) / med(bare_loop_only),
        "ours_call_per_epoch_s": med(ours_call),
        "bare_call_per_epoch_s": med(bare_call),
        "ratio_call": med(ours_call) / med(bare_call),
        "ours_cpu_per_epoch_s": med(ours_cpu),
        "bare_cpu_per_epoch_s": med(bare_cpu),
        "ratio_cpu": med(ours_cpu) / med(bare_cpu),
        "ours_all_s": ours_train,
        "bare_all_s": bare_train,
        "bare_loop_only_all_s": bare_loop_only,
    }


def time_transformer(
    config: dict[str, Any], steps: int, repeats: int, device: torch.device
) -> dict[str, Any]:
    data = load_shakespeare()
    transformer.evaluate(config, data=data, steps=3, device=device, eval_batches=1)  # warm-up
    per_step, n_params = [], 0
    for r in range(repeats):
        ev = transformer.evaluate(
            config, data=data, steps=steps, device=device, seed=r, eval_batches=1
        )
        per_step.append(ev.metadata["seconds_per_step"])
        n_params = ev.metadata["n_params"]
    return {
        "config": config,
        "steps": steps,
        "repeats": repeats,
        "n_params": n_params,
        "step_s": statistics.median(per_step),
        "all_step_s": per_step,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="Fashion-MNIST idx files (adds full-data timings)",
    )
    parser.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per MLP run (subset)")
    parser.add_argument(
        "--full-repeats",
        type=int,
        default=None,
        help="runs of each loop on the full data (default: half of --repeats, at least 2)",
    )
    parser.add_argument("--gpt-steps", type=int, default=20)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads for both loops (sets OMP_NUM_THREADS; default: all cores)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "evaluator_speed.json"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    device = T.resolve_device(args.device)
    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by T.training_threads()
    torch.set_num_threads(T.training_threads())  # the bare loop gets what evaluate() gets

    baseline = dict(mlp.DEFAULTS)
    rows: dict[str, Any] = {}
    rows["mlp_embedded"] = compare_mlp(
        load_fashion_mnist(), baseline, args.epochs, args.repeats, device
    )
    if args.data_dir is not None:
        full = load_fashion_mnist(args.data_dir)
        full_repeats = args.full_repeats or max(2, args.repeats // 2)
        rows["mlp_full"] = compare_mlp(full, baseline, 1, full_repeats, device)
    gpt_rows = {"gpt_cpu_size": time_transformer(CPU_GPT, args.gpt_steps, 3, device)}
    if device.type == "cuda":
        gpt_rows["gpt_baby"] = time_transformer(BABY_GPT, max(args.gpt_steps, 50), 3, device)
        gpt_rows["gpt_document_baseline"] = time_transformer(
            DOC_GPT, max(args.gpt_steps, 50), 3, device
        )

    env = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": T.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    print(
        f"device={env['device']} threads={env['threads']} torch={env['torch']} "
        f"load={env['loadavg_at_end'][0]:.1f}"
    )
    print(
        f"{'MLP (baseline config)':24} {'n_train':>7} {'ours s/ep':>10} {'bare s/ep':>10} "
        f"{'ratio':>6} {'loop-only':>9} {'call ratio':>10} {'cpu ratio':>9}"
    )
    for name, r in rows.items():
        print(
            f"{name:24} {r['n_train']:7d} {r['ours_epoch_s']:10.4f} {r['bare_epoch_s']:10.4f} "
            f"{r['ratio']:6.3f} {r['ratio_loop_only']:9.3f} {r['ratio_call']:10.3f} "
            f"{r['ratio_cpu']:9.3f}"
        )
    print(f"{'transformer':24} {'params':>7} {'s/step':>10}")
    for name, r in gpt_rows.items():
        print(f"{name:24} {r['n_params']:7d} {r['step_s']:10.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"env": env, "mlp": rows, "transformer": gpt_rows, "mlp_config": baseline}, indent=2
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
