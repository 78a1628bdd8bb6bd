"""Per-example gradient throughput of the single-sample VAE ELBO in PyTorch, the reference for
voxprobe-ood's `Hvae` (latent [16], hidden 256, 784 Bernoulli inputs, 415,024 parameters).

Two modes (run both through scripts/bench_ood_grad_vs_torch.sh, which times the Rust side on the
same data in the same run):
  --export FILE   write the shared inputs: torch-initialised weights (state_dict keys, which
                  `Hvae::from_tensors` reads), binary inputs `x` [n, 784] and the
                  reparameterisation noise `eps.0` [n, 16], so both sides compute the same ELBO.
  --data FILE     time torch.func vmap(grad) (and a batch-size-1 autograd loop, the paper's
                  method) on that file; print one JSON line with examples/s and checksums.

The model is `Hvae` from scripts/gen_ood_hvae_grads.py (the parity-fixture generator).
Pinned: torch==2.15.0, safetensors==0.8.0 (scripts/requirements-ood.txt).
"""
import argparse
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file, save_file
from torch.func import functional_call, grad, vmap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_ood_hvae_grads import Hvae  # noqa: E402

D, H, LATENT = 784, 256, [16]


def export(path, n):
    torch.manual_seed(0)
    model = Hvae(D, H, LATENT)
    out = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out["x"] = (torch.rand(n, D) < 0.3).float()
    out["eps.0"] = torch.randn(n, LATENT[0])
    save_file(out, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export")
    ap.add_argument("--data")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--n-loop", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.export:
        export(a.export, a.n)
        return
    torch.set_num_threads(a.threads)
    t = load_file(a.data)
    model = Hvae(D, H, LATENT)
    model.load_state_dict({k: v for k, v in t.items() if k in model.state_dict()})
    x, eps = t["x"][: a.n], t["eps.0"][: a.n]
    n = x.shape[0]
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi, ei):
        # One unbatched example (1-D input, scalar ELBO): vmap then batches the Linear layers
        # into plain GEMMs; a [1, D] input inside vmap would become a slower batched matmul.
        return functional_call(model, p, (xi, [ei]))

    per_example = vmap(grad(f), in_dims=(None, 0, 0))
    per_example(params, x[: a.batch], eps[: a.batch])  # warm-up
    dt = 0.0
    checksum, checksum_head = 0.0, 0.0
    for s in range(0, n, a.batch):
        # only the gradient computation is timed (the f64 checksums are not)
        t0 = time.perf_counter()
        g = per_example(params, x[s : s + a.batch], eps[s : s + a.batch])
        dt += time.perf_counter() - t0
        checksum += float(sum(v.double().sum() for v in g.values()))
        if s < a.n_loop:
            k = min(a.batch, a.n_loop - s)
            checksum_head += float(sum(v[:k].double().sum() for v in g.values()))
    # The paper's method: one backward per example (batch size 1).
    dt_loop = 0.0
    loop_sum = 0.0
    for i in range(a.n_loop):
        t0 = time.perf_counter()
        model.zero_grad()
        model(x[i : i + 1], [eps[i : i + 1]]).sum().backward()
        dt_loop += time.perf_counter() - t0
        loop_sum += float(sum(p.grad.double().sum() for p in model.parameters()))
    n_params = sum(v.numel() for v in params.values())
    print(json.dumps({"impl": "torch.func vmap(grad)", "torch": torch.__version__, "threads": a.threads,
                      "n": n, "batch": a.batch, "n_params": n_params, "seconds": dt,
                      "examples_per_s": n / dt, "loop_examples_per_s": a.n_loop / dt_loop,
                      "checksum": checksum, "checksum_head": checksum_head,
                      "checksum_loop": loop_sum}))


if __name__ == "__main__":
    main()
