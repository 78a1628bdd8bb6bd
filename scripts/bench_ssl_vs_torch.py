#!/usr/bin/env python3
"""voxprobe-ssl vs PyTorch CPU inference, side by side in one run.

For every family (wav2vec2, HuBERT, WavLM, data2vec-audio) and size (base, large), builds a
random-weight checkpoint of the real geometry once (saved in Hugging Face layout in a temp dir
outside the repo, so that both sides load the same file), then alternates single forward passes
of PyTorch (in this process) and voxprobe (the release example `ssl_timing`, a child process
driven over stdin, default engine) on 1 s, 10 s and 30 s of audio, and a corpus of 1–15 s
utterances in bucketed, padded, masked batches. Reports medians, the ratio torch / voxprobe
(> 1 = voxprobe faster), achieved GFLOP/s (analytic count) and the fraction of the CPU's
sustainable FMA rate (measured in the same run: the best torch sgemm 2048³), and the peak RSS of
a fresh process that loads the model and runs one 30 s forward pass, per side.

    scripts/bench_ssl_vs_torch.sh [--threads 2] [--runs 3] [--families wavlm] [--json OUT]
Pins: scripts/requirements-ssl.txt (torch 2.15.0, transformers 5.23.0).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers
from transformers import (Data2VecAudioConfig, Data2VecAudioModel, HubertConfig, HubertModel,
                          Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel)

# The large geometry of the released checkpoints (wav2vec2-large-lv60, hubert-large-ll60k,
# wavlm-large: 24 × 1024, 16 heads, 4096 FFN, stable (pre-)LN, LayerNorm front end with conv
# bias; data2vec-audio-large: same sizes, its family's post-LN encoder). Base = each config's
# defaults (12 × 768, 12 heads, 3072 FFN).
LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
STABLE = dict(do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)
FAMILIES = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, {"base": {}, "large": LARGE | STABLE}),
    "hubert": (HubertConfig, HubertModel, {"base": {}, "large": LARGE | STABLE}),
    "wavlm": (WavLMConfig, WavLMModel, {"base": {}, "large": LARGE | STABLE}),
    "data2vec-audio": (Data2VecAudioConfig, Data2VecAudioModel, {"base": {}, "large": LARGE}),
}
GOAL = {1.0: 1.2}  # seconds → goal ratio; 1.3 elsewhere and for corpus mode
REF = f"torch {torch.__version__.split('+')[0]} transformers {transformers.__version__}"


def flops(n, cfg, family):
    """Multiply-adds × 2 of one forward pass on n samples (batch 1)."""
    f, cin, t = 0, 1, n
    for c, k, s in zip(cfg.conv_dim, cfg.conv_kernel, cfg.conv_stride):
        t = (t - k) // s + 1
        f += 2 * t * c * cin * k
        cin = c
    h, ff, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    g = cfg.num_conv_pos_embedding_groups
    f += 2 * t * cin * h  # feature projection
    if family == "data2vec-audio":  # stacked convs of conv_pos_kernel_size taps
        f += cfg.num_conv_pos_embeddings * 2 * t * h * (h // g) * cfg.conv_pos_kernel_size
    else:
        f += 2 * t * h * (h // g) * cfg.num_conv_pos_embeddings
    per_layer = 2 * t * (4 * h * h + 2 * h * ff) + 2 * 2 * t * t * h  # projections, FFN, QKᵀ, PV
    if family == "wavlm":
        per_layer += 2 * t * h * 8 + 2 * t * t * cfg.num_attention_heads  # gates, gated bias
    return f + L * per_layer


def cpu_desc():
    info = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    get = lambda k: (re.search(rf"^{k}:\s*(.+)$", info, re.M) or [None, ""])[1].strip()
    return f"{get('Model name')} ({get('Vendor ID')} family {get('CPU family')} model {get('Model')})"


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sgemm_rate(n=2048, reps=5):
    """Sustainable f32 FMA rate of this CPU at the bench's thread count, measured: the best
    of `reps` torch (MKL/oneDNN) sgemms n³, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    return 2 * n ** 3 / min(_timed(lambda: torch.mm(a, b)) for _ in range(reps)) / 1e9


def build_checkpoint(tmp, family, size):
    cfg_cls, model_cls, sizes = FAMILIES[family]
    d = Path(tmp) / f"{family}-{size}-random"
    if not (d / "model.safetensors").is_file():
        torch.manual_seed(0)
        model_cls(cfg_cls(**sizes[size])).eval().save_pretrained(d, safe_serialization=True)
    return d


def load_torch(family, d):
    _, model_cls, _ = FAMILIES[family]
    try:
        return model_cls.from_pretrained(d, attn_implementation="sdpa").eval()
    except (ValueError, ImportError):  # families without an sdpa path (WavLM) use eager
        return model_cls.from_pretrained(d).eval()


class Rust:
    def __init__(self, exe, model_dir, threads):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        self.p = subprocess.Popen([exe, str(model_dir)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"ssl_timing did not start: {line!r}")

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        if not line or line[0] == "error:":
            raise RuntimeError(f"ssl_timing: {line}")
        return float(line[0])

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait()


def vm_hwm_mb(pid):
    """Peak resident set (VmHWM) of a live process, in MB. Read from /proc while the process
    is alive: the rusage of a child spawned from this (large) process would also count this
    process's memory at the time of the spawn."""
    m = re.search(r"^VmHWM:\s*(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) / 1024


def rust_peak_rss_mb(exe, d, n, threads):
    """Fresh ssl_timing process: load, one forward pass on n samples, then its VmHWM."""
    r = Rust(exe, d, threads)
    r.cmd(f"fwd {n}")
    mb = vm_hwm_mb(r.p.pid)
    r.close()
    return mb


def torch_peak_rss_mb(family, d, n, threads):
    """Fresh Python process (--rss-child): load, one forward pass, then its VmHWM."""
    p = subprocess.Popen([sys.executable, __file__, "--rss-child", family, str(d), str(n), str(threads)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "done":
        raise RuntimeError(f"rss child: {line!r}")
    mb = vm_hwm_mb(p.pid)
    p.stdin.close()
    p.wait()
    return mb


def rss_child(family, d, n, threads):
    """--rss-child: load the model, run one forward pass on n samples, say done, wait."""
    torch.set_num_threads(threads)
    model = load_torch(family, d)
    with torch.inference_mode():
        model(torch.randn(1, n, generator=torch.Generator().manual_seed(7)))
    print("done", flush=True)
    sys.stdin.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side and length")
    ap.add_argument("--seconds", default="1,10,30", help="'' = skip single forward passes")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--sizes", default="base,large")
    ap.add_argument("--corpus", default="16,1,15,8",
                    help="corpus mode: n utts,min s,max s,batch; '' = skip")
    ap.add_argument("--corpus-sizes", default="base", help="sizes that run corpus mode")
    ap.add_argument("--rss-seconds", type=float, default=30.0, help="0 = skip the RSS check")
    ap.add_argument("--tmp", default=os.path.join(tempfile.gettempdir(), "voxprobe_ssl_bench"))
    ap.add_argument("--exe", default="target/release/examples/ssl_timing")
    ap.add_argument("--json", default=None,
                    help="write a JSON list of rows {bench, case, voxprobe_s, reference_s, ratio, reference}")
    ap.add_argument("--details", default=None, help="also write every measurement here (JSON)")
    ap.add_argument("--rss-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        fam, d, n, th = args.rss_child
        return rss_child(fam, d, int(n), int(th))
    torch.set_num_threads(args.threads)
    fma = sgemm_rate()
    print(f"CPU: {cpu_desc()}; {args.threads} threads; sustainable FMA rate (best torch sgemm 2048³) "
          f"{fma:.0f} GFLOP/s; {REF}; load avg {os.getloadavg()[0]:.1f} (a shared machine: ratios are "
          f"same-run, alternating, medians)", flush=True)
    rows, details = [], dict(cpu=cpu_desc(), threads=args.threads, fma_gflops=fma, reference=REF,
                             forward=[], corpus=[], rss=[])
    print(f"{'model':22} {'len':>4} {'torch s':>8} {'vox s':>8} {'ratio':>6} {'goal':>5} "
          f"{'torch GF/s':>10} {'vox GF/s':>8} {'vox %FMA':>8}")
    for family in args.families.split(","):
        for size in args.sizes.split(","):
            name = f"{family}-{size}"
            d = build_checkpoint(args.tmp, family, size)
            cfg = FAMILIES[family][0].from_pretrained(d)
            model = load_torch(family, d)
            rust = Rust(args.exe, d, args.threads)
            for secs in [float(s) for s in args.seconds.split(",") if s]:
                n = int(16000 * secs)
                x = torch.randn(1, n, generator=torch.Generator().manual_seed(7))
                tt, rt = [], []
                with torch.inference_mode():
                    model(x)
                    rust.cmd(f"fwd {n}")  # warm-up both
                    for _ in range(args.runs):
                        tt.append(_timed(lambda: model(x)))
                        rt.append(rust.cmd(f"fwd {n}"))
                t, r = statistics.median(tt), statistics.median(rt)
                gf = flops(n, cfg, family) / 1e9
                goal = GOAL.get(secs, 1.3)
                rows.append(dict(bench="ssl_forward_cpu", case=f"{name} {secs:g}s", voxprobe_s=r,
                                 reference_s=t, ratio=t / r, reference=REF, goal=goal,
                                 gflop=gf, voxprobe_gflops=gf / r, reference_gflops=gf / t,
                                 voxprobe_fma_fraction=gf / r / fma, threads=args.threads))
                details["forward"].append(dict(rows[-1], torch_runs=tt, voxprobe_runs=rt,
                                               load_avg=os.getloadavg()[0]))
                print(f"{name:22} {secs:3.0f}s {t:8.3f} {r:8.3f} {t / r:5.2f}× {'ok' if t / r >= goal else 'MISS':>5} "
                      f"{gf / t:10.0f} {gf / r:8.0f} {100 * gf / r / fma:7.0f}%", flush=True)
            if args.corpus and size in args.corpus_sizes.split(","):
                nu, lo, hi, bs = args.corpus.split(",")
                nu, lo, hi, bs = int(nu), int(float(lo) * 16000), int(float(hi) * 16000), int(bs)
                lens = [lo + (i * 7919 + 13) % (hi - lo + 1) for i in range(nu)]
                waves = [torch.randn(l, generator=torch.Generator().manual_seed(i)) for i, l in enumerate(lens)]

                def torch_corpus():
                    # voxprobe's bucketing: longest first, padded batches of bs, masks
                    order = sorted(range(nu), key=lambda i: -lens[i])
                    for j in range(0, nu, bs):
                        idx = order[j:j + bs]
                        m = max(lens[i] for i in idx)
                        xb = torch.zeros(len(idx), m)
                        mask = torch.zeros(len(idx), m, dtype=torch.long)
                        for r_, i in enumerate(idx):
                            xb[r_, :lens[i]] = waves[i]
                            mask[r_, :lens[i]] = 1
                        model(xb, attention_mask=mask)

                tt, rt = [], []
                with torch.inference_mode():
                    for _ in range(2):  # alternate twice, keep the better of each side
                        tt.append(_timed(torch_corpus))
                        rt.append(rust.cmd(f"batch {nu} {lo} {hi} {bs}"))
                t, r = min(tt), min(rt)
                case = f"{name} corpus {nu} utts {lo / 16000:g}-{hi / 16000:g} s batch {bs}"
                rows.append(dict(bench="ssl_corpus_cpu", case=case, voxprobe_s=r, reference_s=t,
                                 ratio=t / r, reference=REF, goal=1.3, threads=args.threads))
                details["corpus"].append(dict(rows[-1], torch_runs=tt, voxprobe_runs=rt))
                print(f"{name:22} corpus {nu} utts {lo / 16000:g}–{hi / 16000:g} s, batch {bs}: torch {t:.2f} s, "
                      f"voxprobe {r:.2f} s ({t / r:.2f}×) {'ok' if t / r >= 1.3 else 'MISS'}", flush=True)
            rust.close()
            del model
            if args.rss_seconds > 0:
                n = int(16000 * args.rss_seconds)
                rv = rust_peak_rss_mb(args.exe, d, n, args.threads)
                rt_ = torch_peak_rss_mb(family, d, n, args.threads)
                details["rss"].append(dict(case=f"{name} load + {args.rss_seconds:g}s forward",
                                           voxprobe_mb=rv, reference_mb=rt_))
                print(f"{name:22} peak RSS, load + one {args.rss_seconds:g} s forward: torch {rt_:.0f} MB, "
                      f"voxprobe {rv:.0f} MB {'ok' if rv <= rt_ else 'MISS'}", flush=True)
    miss = [r["case"] for r in rows if r["ratio"] < r["goal"]]
    print(f"\n{len(rows) - len(miss)}/{len(rows)} speed cells at goal; below goal: {', '.join(miss) or 'none'}; "
          f"load avg at end {os.getloadavg()[0]:.1f}")
    if args.json:
        keep = ("bench", "case", "voxprobe_s", "reference_s", "ratio", "reference")
        Path(args.json).write_text(json.dumps([{k: r[k] for k in keep} for r in rows], indent=1))
    if args.details:
        Path(args.details).write_text(json.dumps(details, indent=1))


if __name__ == "__main__":
    sys.exit(main())
