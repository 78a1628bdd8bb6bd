#!/usr/bin/env python3
"""Time voxprobe-kmex k-means against scikit-learn 1.9.1 side by side, 2 threads each.

Same data (uniform random, seed 0), same initial centres, Lloyd, tol=0 and a fixed max_iter so
both do the same number of iterations; best of `--repeats` runs each. Pins:
scripts/requirements-kmex.txt. Run via scripts/bench_kmeans_vs_sklearn.sh.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

CASES = [(100_000, 64, 50), (1_000_000, 16, 256)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="path to the kmeans_timing binary")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, d, k in CASES:
            rng = np.random.default_rng(0)
            X = rng.random((n, d))
            init = X[rng.choice(n, k, replace=False)].copy()
            xp, ip = os.path.join(tmp, "x.bin"), os.path.join(tmp, "init.bin")
            X.astype("<f8").tofile(xp)
            init.astype("<f8").tofile(ip)
            best = float("inf")
            with threadpool_limits(limits=args.threads):
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=args.iters, tol=0.0,
                                algorithm="lloyd").fit(X)
                    best = min(best, time.perf_counter() - t)
            env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
            out = subprocess.run([args.bin, xp, ip, str(n), str(d), str(k), str(args.iters),
                                  str(args.repeats)], env=env, capture_output=True, text=True,
                                 check=True).stdout
            ours = json.loads(out.strip().splitlines()[-1])
            row = {
                "case": f"{n}x{d}_k{k}", "iters": args.iters, "threads": args.threads,
                "sklearn_s": best, "sklearn_n_iter": int(km.n_iter_),
                "voxprobe_s": ours["seconds"], "voxprobe_n_iter": ours["n_iter"],
                "speedup_vs_sklearn": best / ours["seconds"],
                "inertia_rel_diff": abs(ours["inertia"] - km.inertia_) / km.inertia_,
                "sklearn": sklearn.__version__,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
