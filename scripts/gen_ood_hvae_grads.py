"""PyTorch reference of voxprobe-ood's `Hvae` (MLP hierarchical VAE, Bernoulli likelihood) and the
generator of its per-example-gradient parity fixtures.

The module below mirrors `crates/voxprobe-ood/src/hvae.rs` layer for layer and with the same
state_dict keys (`enc.{i}`, `q_heads.{i}`, `p_hidden.{i}`, `p_heads.{i}`, `dec_hidden`,
`dec_out`; torch.nn.Linear weights are (out, in) like candle's). The single-sample ELBO takes the
reparameterisation noise `eps` explicitly, so both sides compute the same function.

Writes, for a one-stage VAE and a two-stage HVAE:
  crates/voxprobe-ood/tests/data/{vae,hvae}_grads.safetensors
holding the f32 weights (state_dict keys), `x` [B, D] (binary), `eps.{i}` [B, z_i] (f32), and the
reference computed in float64 from those same f32 values: `elbo` [B] and `grad.{key}` [B, *shape]
(torch.func vmap over grad), plus `llr_bounds.k1` [2, B] (L and L^{>1}, two-stage model only).

Pinned: torch==2.15.0, safetensors==0.8.0, numpy==2.4.6 (scripts/requirements-ood.txt).
Usage (scripts/venv.sh makes target/venv-ood from the pinned file once and prints its python):
    "$(scripts/venv.sh ood scripts/requirements-ood.txt)" scripts/gen_ood_hvae_grads.py
"""
import math
import os

import torch
from safetensors.torch import save_file
from torch.func import functional_call, grad, vmap

LN_2PI = math.log(2 * math.pi)
# Same clamp as LOGVAR_LIMIT in hvae.rs.
LOGVAR_LIMIT = 10.0


def log_normal(z, mu, lv):
    return -0.5 * (LN_2PI + lv + (z - mu) ** 2 * torch.exp(-lv)).sum(-1)


def log_std_normal(z):
    return -0.5 * (LN_2PI + z**2).sum(-1)


class Hvae(torch.nn.Module):
    """Bottom-up deterministic inference path, top-down Gaussian conditional priors."""

    def __init__(self, d, h, latent):
        super().__init__()
        self.latent = list(latent)
        n = len(latent)
        L = torch.nn.Linear
        self.enc = torch.nn.ModuleList([L(d if i == 0 else h, h) for i in range(n)])
        self.q_heads = torch.nn.ModuleList([L(h, 2 * z) for z in latent])
        self.p_hidden = torch.nn.ModuleList([L(latent[i + 1], h) for i in range(n - 1)])
        self.p_heads = torch.nn.ModuleList([L(h, 2 * latent[i]) for i in range(n - 1)])
        self.dec_hidden = L(latent[0], h)
        self.dec_out = L(h, d)

    def param_order(self):
        """Flattening order of voxprobe_ood::Hvae::var_names()."""
        names = []
        for i in range(len(self.latent)):
            names += [f"enc.{i}.weight", f"enc.{i}.bias", f"q_heads.{i}.weight", f"q_heads.{i}.bias"]
        for i in range(len(self.latent) - 1):
            names += [f"p_hidden.{i}.weight", f"p_hidden.{i}.bias", f"p_heads.{i}.weight", f"p_heads.{i}.bias"]
        names += ["dec_hidden.weight", "dec_hidden.bias", "dec_out.weight", "dec_out.bias"]
        return names

    def _gauss(self, head, h, z):
        out = head(h)
        return out[..., :z], out[..., z:].clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)

    def infer(self, x):
        d, q = x, []
        for enc, head, z in zip(self.enc, self.q_heads, self.latent):
            d = torch.relu(enc(d))
            q.append(self._gauss(head, d, z))
        return q

    def prior(self, i, z_above):
        return self._gauss(self.p_heads[i], torch.relu(self.p_hidden[i](z_above)), self.latent[i])

    def decode(self, z1):
        return self.dec_out(torch.relu(self.dec_hidden(z1)))

    @staticmethod
    def bernoulli(x, logits):
        # x·l − softplus(l), the stable form used in hvae.rs (torch's softplus switches to
        # the identity above 20, which changes nothing at f32/f64 precision here)
        sp = torch.relu(logits) + torch.log1p(torch.exp(-logits.abs()))
        return (x * logits - sp).sum(-1)

    def forward(self, x, eps):
        """Single-sample ELBO per row with explicit noise eps[i] ~ N(0, I) per stage."""
        q = self.infer(x)
        zs = [mu + torch.exp(0.5 * lv) * e for (mu, lv), e in zip(q, eps)]
        n = len(self.latent)
        kl = -log_std_normal(zs[-1])
        for i in range(n):
            kl = kl + log_normal(zs[i], *q[i])
            if i + 1 < n:
                kl = kl - log_normal(zs[i], *self.prior(i, zs[i + 1]))
        return self.bernoulli(x, self.decode(zs[0])) - kl

    def bounds(self, x, eps, k):
        """(L, L^{>k}) for one posterior sample: the lowest k stages of L^{>k} take the mode of the
        conditional prior and drop their KL terms (Havtorn et al. 2021, `use_mode`)."""
        q = self.infer(x)
        zs = [mu + torch.exp(0.5 * lv) * e for (mu, lv), e in zip(q, eps)]
        n = len(self.latent)
        elbo = self.forward(x, eps)
        upper = log_std_normal(zs[-1])
        z = zs[-1]
        for i in reversed(range(n)):
            if i >= k:
                upper = upper - log_normal(zs[i], *q[i])
                if i + 1 < n:
                    upper = upper + log_normal(zs[i], *self.prior(i, zs[i + 1]))
                z = zs[i]
            else:
                z = self.prior(i, z)[0]
        return elbo, upper + self.bernoulli(x, self.decode(z))


def per_example_grads(model, x, eps):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi, ei):
        return functional_call(model, p, (xi.unsqueeze(0), [e.unsqueeze(0) for e in ei])).squeeze(0)

    return vmap(grad(f), in_dims=(None, 0, 0))(params, x, eps)


def make(path, d, h, latent, b, seed):
    torch.manual_seed(seed)
    model = Hvae(d, h, latent)
    # binary inputs, like binarised MNIST
    x = (torch.rand(b, d) < 0.4).float()
    eps = [torch.randn(b, z) for z in latent]
    out = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out["x"] = x
    for i, e in enumerate(eps):
        out[f"eps.{i}"] = e
    # Reference in float64 from the same f32 values.
    m64 = Hvae(d, h, latent).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    x64, eps64 = x.double(), [e.double() for e in eps]
    with torch.no_grad():
        out["elbo"] = m64(x64, eps64)
        if len(latent) >= 2:
            out["llr_bounds.k1"] = torch.stack(m64.bounds(x64, eps64, 1))
    g = per_example_grads(m64, x64, tuple(eps64))
    for k in m64.param_order():
        out[f"grad.{k}"] = g[k].contiguous()
    save_file(out, path)
    n_params = sum(v.numel() for v in model.parameters())
    print(f"wrote {path}: {n_params} params, {b} examples, {os.path.getsize(path)} bytes")


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "voxprobe-ood", "tests", "data")
    os.makedirs(root, exist_ok=True)
    torch.set_num_threads(1)
    make(os.path.join(root, "vae_grads.safetensors"), d=12, h=8, latent=[4], b=6, seed=0)
    make(os.path.join(root, "hvae_grads.safetensors"), d=12, h=8, latent=[3, 2], b=6, seed=1)


if __name__ == "__main__":
    main()
