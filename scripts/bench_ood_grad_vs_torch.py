"""Per-example gradient throughput of the single-sample VAE ELBO in PyTorch (torch.func vmap over
grad), the reference for voxprobe-ood's Hvae (latent [16], hidden 256, 784 Bernoulli inputs).

Pinned: torch==2.15.0 (CPU threads set by --threads). Prints one JSON line.
Run through scripts/bench_ood_grad_vs_torch.sh, which times the Rust side in the same run.
"""
import argparse
import json
import math
import time

import torch
from torch.func import functional_call, grad, vmap

LN_2PI = math.log(2 * math.pi)


class Vae(torch.nn.Module):
    """Same layers as voxprobe_ood::Hvae with one stage: enc, q_head, dec_hidden, dec_out."""

    def __init__(self, d=784, h=256, z=16):
        super().__init__()
        self.z = z
        self.enc = torch.nn.Linear(d, h)
        self.q_head = torch.nn.Linear(h, 2 * z)
        self.dec_hidden = torch.nn.Linear(z, h)
        self.dec_out = torch.nn.Linear(h, d)

    def elbo(self, x, eps):
        d = torch.relu(self.enc(x))
        out = self.q_head(d)
        mu, lv = out[..., : self.z], out[..., self.z :].clamp(-10, 10)
        z = mu + torch.exp(0.5 * lv) * eps
        log_q = -0.5 * (LN_2PI + lv + (z - mu) ** 2 * torch.exp(-lv)).sum(-1)
        log_p = -0.5 * (LN_2PI + z**2).sum(-1)
        logits = self.dec_out(torch.relu(self.dec_hidden(z)))
        rec = (x * logits - torch.nn.functional.softplus(logits)).sum(-1)
        return rec + log_p - log_q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Vae()

    def model_elbo(p, x, eps):
        # functional_call runs forward(); the wrapper's forward is the ELBO
        return functional_call(wrapper, p, (x, eps))

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, eps):
            return self.m.elbo(x, eps)

    wrapper = Wrapper(model)
    params = {k: v.detach() for k, v in wrapper.named_parameters()}
    per_example = vmap(grad(model_elbo), in_dims=(None, 0, 0))
    x = (torch.rand(a.n, 784) < 0.3).float()
    eps = torch.randn(a.n, 16)
    # warm-up
    per_example(params, x[: a.batch], eps[: a.batch])
    t0 = time.perf_counter()
    checksum = 0.0
    for s in range(0, a.n, a.batch):
        g = per_example(params, x[s : s + a.batch], eps[s : s + a.batch])
        checksum += float(sum(v.sum() for v in g.values()))
    dt = time.perf_counter() - t0
    n_params = sum(v.numel() for v in params.values())
    print(json.dumps({"impl": "torch.func vmap(grad)", "torch": torch.__version__, "threads": a.threads,
                      "n": a.n, "batch": a.batch, "n_params": n_params, "seconds": dt,
                      "examples_per_s": a.n / dt, "checksum": checksum}))


if __name__ == "__main__":
    main()
