//! Timing server for `scripts/bench_ssl_vs_torch.py`: loads one checkpoint directory, then
//! answers commands on stdin, one per line, so that the Python side can alternate runs with
//! PyTorch inside one process pair (same machine state for both).
//!
//! Usage: `ssl_timing <model_dir> [--device cpu|cuda] [--dtype f32|bf16|f16]` (default: CPU,
//! f32, default engine).
//!
//! Commands:
//! - `fwd <samples>`: one forward pass of batch 1 on `<samples>` samples; prints the seconds.
//! - `fwdb <batch> <samples>`: one forward pass of `<batch>` items of `<samples>` samples.
//! - `batch <n> <min_samples> <max_samples> <batch_size>`: corpus throughput on `n` utterances of
//!   deterministic pseudo-random lengths, bucketed by length; prints the seconds.
//! - `quit`.
//!
//! Threads: `RAYON_NUM_THREADS` (the bench sets it to the number of physical cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::time::Instant;
use voxprobe_ssl::candle_core::{DType, Device, Tensor};
use voxprobe_ssl::{ForwardOptions, LoadOptions, Pretrained, ThroughputOptions};

fn wave(n: usize, seed: u64) -> Vec<f32> {
    // xorshift noise: values do not change the timing, only keep denormals out
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: ssl_timing <model_dir> [--device cpu|cuda] [--dtype f32|bf16|f16]")?;
    let (mut device, mut dtype) = (Device::Cpu, DType::F32);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().as_deref()) {
            ("--device", Some("cuda")) => device = Device::new_cuda(0)?,
            ("--device", Some("cpu")) => device = Device::Cpu,
            ("--dtype", Some("bf16")) => dtype = DType::BF16,
            ("--dtype", Some("f16")) => dtype = DType::F16,
            ("--dtype", Some("f32")) => dtype = DType::F32,
            (flag, v) => return Err(format!("bad argument {flag} {v:?}").into()),
        }
    }
    let opts = LoadOptions::default().device(device.clone()).dtype(dtype);
    let model = Pretrained::from_dir(&dir, &opts)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["fwd", n] => {
                let n: usize = n.parse()?;
                let x = Tensor::from_vec(wave(n, 7), (1, n), &device)?;
                let t0 = Instant::now();
                let o = model.model.forward(&x, None, &ForwardOptions::default())?;
                let s: f32 = o
                    .last_hidden_state
                    .to_dtype(DType::F32)?
                    .sum_all()?
                    .to_scalar()?;
                let dt = t0.elapsed().as_secs_f64();
                writeln!(out, "{dt} {s}")?;
            }
            ["fwdb", b, n] => {
                let (b, n): (usize, usize) = (b.parse()?, n.parse()?);
                let x = Tensor::from_vec(wave(b * n, 7), (b, n), &device)?;
                let t0 = Instant::now();
                let o = model.model.forward(&x, None, &ForwardOptions::default())?;
                // the scalar copy back synchronises the device before the clock stops
                let s: f32 = o
                    .last_hidden_state
                    .to_dtype(DType::F32)?
                    .sum_all()?
                    .to_scalar()?;
                let dt = t0.elapsed().as_secs_f64();
                writeln!(out, "{dt} {s}")?;
            }
            ["batch", n, lo, hi, bs] => {
                let (n, lo, hi, bs): (usize, usize, usize, usize) =
                    (n.parse()?, lo.parse()?, hi.parse()?, bs.parse()?);
                let waves: Vec<Vec<f32>> = (0..n)
                    .map(|i| {
                        let len = lo + (i * 7919 + 13) % (hi - lo + 1);
                        wave(len, i as u64)
                    })
                    .collect();
                let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
                let t0 = Instant::now();
                let mut frames = 0usize;
                let opts = ThroughputOptions::default().max_batch(bs);
                model.embed_corpus(&refs, &opts, |_i, emb| {
                    frames += emb.dims()[0];
                    Ok(())
                })?;
                let dt = t0.elapsed().as_secs_f64();
                writeln!(out, "{dt} {frames}")?;
            }
            ["quit"] => break,
            _ => writeln!(out, "error: unknown command {line:?}")?,
        }
        out.flush()?;
    }
    Ok(())
}
