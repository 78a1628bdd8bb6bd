//! Parity of the `Hvae` ELBO, its per-example gradients (analytic path and candle autograd) and
//! the `(L, L^{>1})` bounds with the PyTorch reference (`torch.func.vmap(grad)`, float64) on
//! fixtures made by `scripts/gen_ood_hvae_grads.py` (torch 2.15.0). Weights, inputs and the
//! reparameterisation noise all come from the fixture, so both sides compute the same function.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ndarray::{Array1, Array2};
use voxprobe_ood::{Hvae, HvaeParams};

/// Our forward and backward run in f32 against a float64 reference computed from the same f32
/// weights: f32 rounding over ≤ 12-term sums and 8 layers stays below 1e-5 of the largest
/// gradient entry, so 1e-4 relative to each entry plus 2e-5 of the fixture's largest entry is
/// ample, while a wrong sign, factor ½ or transposed outer product is O(1).
const GRAD_REL_TOL: f64 = 1e-4;
const GRAD_SCALE_TOL: f64 = 2e-5;
/// ELBO values are sums of ~30 f32 terms of size ≤ 10: 1e-4 absolute (plus 1e-6 relative).
const ELBO_TOL: f64 = 1e-4;

struct Fixture {
    model: Hvae,
    x: Array2<f32>,
    eps: Vec<Array2<f32>>,
    tensors: HashMap<String, Tensor>,
}

fn arr2(t: &Tensor) -> Array2<f32> {
    let (r, c) = t.dims2().unwrap();
    let v = t.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
    Array2::from_shape_vec((r, c), v.to_vec1::<f32>().unwrap()).unwrap()
}

fn vec64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn load(name: &str, latent: Vec<usize>, hidden: usize) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    let x = arr2(&tensors["x"]);
    let eps = (0..latent.len())
        .map(|i| arr2(&tensors[&format!("eps.{i}")]))
        .collect();
    let params = HvaeParams::default().latent(latent).hidden(hidden);
    let model = Hvae::from_tensors(&params, x.ncols(), &tensors, &Device::Cpu).unwrap();
    Fixture {
        model,
        x,
        eps,
        tensors,
    }
}

/// Reference per-example gradient rows `[B, n_params]` in `var_names` order.
fn reference_grads(f: &Fixture) -> Array2<f64> {
    let b = f.x.nrows();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); b];
    for name in f.model.var_names() {
        let g = &f.tensors[&format!("grad.{name}")];
        let per = g.elem_count() / b;
        let v = vec64(g);
        for (i, c) in cols.iter_mut().enumerate() {
            c.extend_from_slice(&v[i * per..(i + 1) * per]);
        }
    }
    let n = cols[0].len();
    Array2::from_shape_vec((b, n), cols.concat()).unwrap()
}

fn assert_grads_close(ours: &Array2<f32>, want: &Array2<f64>, what: &str) {
    assert_eq!(ours.dim(), want.dim(), "{what}: shape");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for ((i, j), &w) in want.indexed_iter() {
        let o = f64::from(ours[[i, j]]);
        let err = (o - w).abs();
        assert!(
            err <= GRAD_SCALE_TOL * scale + GRAD_REL_TOL * w.abs(),
            "{what}: example {i} param {j}: ours {o} vs torch {w}"
        );
        worst = worst.max(err / scale);
    }
    eprintln!("{what}: max |Δ| / max |g| = {worst:.2e}");
}

fn check(name: &str, latent: Vec<usize>) {
    let f = load(name, latent, 8);
    let want_g = reference_grads(&f);
    let want_elbo = vec64(&f.tensors["elbo"]);
    // analytic batched path
    let (elbo, g) = f
        .model
        .elbo_and_grad_with_noise(f.x.view(), &f.eps)
        .unwrap();
    for (a, b) in elbo.iter().zip(&want_elbo) {
        assert!(
            (a - b).abs() <= ELBO_TOL + 1e-6 * b.abs(),
            "{name}: elbo {a} vs {b}"
        );
    }
    assert_grads_close(&g, &want_g, &format!("{name} analytic"));
    // candle autograd, one backward per example, same noise
    let mut rows = Vec::new();
    for i in 0..f.x.nrows() {
        let xi = Tensor::from_vec(f.x.row(i).to_vec(), (1, f.x.ncols()), &Device::Cpu).unwrap();
        let ei: Vec<Tensor> = f
            .eps
            .iter()
            .map(|e| Tensor::from_vec(e.row(i).to_vec(), (1, e.ncols()), &Device::Cpu).unwrap())
            .collect();
        let lp = f.model.elbo_tensor(&xi, &ei).unwrap().sum_all().unwrap();
        let grads = lp.backward().unwrap();
        for v in f.model.vars() {
            let gv = grads.get(v.as_tensor()).unwrap();
            rows.extend(vec64(gv).into_iter().map(|x| x as f32));
        }
    }
    let ag = Array2::from_shape_vec(g.dim(), rows).unwrap();
    assert_grads_close(&ag, &want_g, &format!("{name} autograd"));
}

#[test]
fn vae_per_example_grads_match_torch_func() {
    check("vae_grads.safetensors", vec![4]);
}

#[test]
fn hvae_per_example_grads_match_torch_func() {
    check("hvae_grads.safetensors", vec![3, 2]);
}

#[test]
fn hvae_llr_bounds_match_torch() {
    let f = load("hvae_grads.safetensors", vec![3, 2], 8);
    let want = vec64(&f.tensors["llr_bounds.k1"]);
    let b = f.x.nrows();
    let (l, u) = f
        .model
        .bounds_with_noise(f.x.view(), &f.eps, 1, voxprobe_ood::LkBound::Paper)
        .unwrap();
    let ours: Array1<f64> = ndarray::concatenate![ndarray::Axis(0), l, u];
    for (a, w) in ours.iter().zip(&want) {
        assert!(
            (a - w).abs() <= ELBO_TOL + 1e-6 * w.abs(),
            "bound {a} vs {w}"
        );
    }
    assert_eq!(ours.len(), 2 * b);
}

#[test]
fn missing_or_misshapen_weights_are_typed_errors() {
    let f = load("hvae_grads.safetensors", vec![3, 2], 8);
    let mut t = f.tensors.clone();
    t.remove("p_heads.0.bias");
    let p = HvaeParams::default().latent(vec![3, 2]).hidden(8);
    let e = Hvae::from_tensors(&p, 12, &t, &Device::Cpu).unwrap_err();
    assert!(matches!(e, voxprobe_ood::Error::MissingKey { ref name } if name == "p_heads.0.bias"));
    let wrong = HvaeParams::default().latent(vec![3, 2]).hidden(9);
    let e = Hvae::from_tensors(&wrong, 12, &f.tensors, &Device::Cpu).unwrap_err();
    assert!(matches!(e, voxprobe_ood::Error::ShapeMismatch { .. }));
    let e = f
        .model
        .elbo_and_grad_with_noise(f.x.view(), &f.eps[..1])
        .unwrap_err();
    assert!(matches!(e, voxprobe_ood::Error::ShapeMismatch { .. }));
}
