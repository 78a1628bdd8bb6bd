//! Key layouts, PyTorch pickles, the hub cache layout, dtypes.

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use voxprobe_ssl::{
    cached_snapshot, Checkpoint, Config, Error, ForwardOptions, LayerSelection, LoadOptions,
    Pretrained, SslModel,
};

fn single_last_hidden(model: &SslModel) -> Tensor {
    let x = feature_extractor()["single.input_values"].clone();
    model
        .forward(&x, None, &ForwardOptions::default())
        .unwrap()
        .last_hidden_state
}

fn from_file(name: &str, file: &str) -> SslModel {
    let dir = model_dir(name);
    let cfg = Config::from_file(dir.join("config.json")).unwrap();
    SslModel::from_checkpoint(
        Checkpoint::read(dir.join(file)).unwrap(),
        &cfg,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn legacy_weight_norm_keys_load() {
    for name in ["wav2vec2-ctc-base", "hubert-base"] {
        let ck =
            Checkpoint::read(model_dir(name).join("model.legacy_weight_norm_keys.safetensors"))
                .unwrap();
        assert!(ck
            .keys()
            .iter()
            .any(|k| k.ends_with("pos_conv_embed.conv.weight_g")));
        let m = from_file(name, "model.legacy_weight_norm_keys.safetensors");
        assert_close(
            name,
            &single_last_hidden(&m),
            &reference(name)["single.last_hidden_state"],
        );
    }
}

#[test]
fn pytorch_pickle_loads() {
    let name = "wav2vec2-ctc-base";
    let m = from_file(name, "pytorch_model.bin");
    let x = feature_extractor()["single.input_values"].clone();
    let out = m.forward(&x, None, &ForwardOptions::default()).unwrap();
    let r = reference(name);
    assert_close(
        "pickle last",
        &out.last_hidden_state,
        &r["single.last_hidden_state"],
    );
    assert_close("pickle logits", &out.logits.unwrap(), &r["single.logits"]);
}

#[test]
fn hub_cache_layout_offline() {
    let cache = scratch_dir("hub-cache");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let repo = cache.join("models--tiny-org--tiny-wavlm");
    let snap = repo.join("snapshots").join(rev);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), rev).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(model_dir("wavlm-stable").join(f), snap.join(f)).unwrap();
    }
    assert_eq!(
        cached_snapshot(&cache, "tiny-org/tiny-wavlm", "main").unwrap(),
        snap
    );
    let opts = LoadOptions::default().cache_dir(&cache).offline(true);
    let p = Pretrained::load("tiny-org/tiny-wavlm", &opts).unwrap();
    assert_close(
        "hub",
        &single_last_hidden(&p.model),
        &reference("wavlm-stable")["single.last_hidden_state"],
    );
    // by commit hash too
    Pretrained::load("tiny-org/tiny-wavlm", &opts.clone().revision(rev)).unwrap();
    // an uncached revision fails offline without touching the network
    let e = Pretrained::load("tiny-org/tiny-wavlm", &opts.clone().revision("v2")).unwrap_err();
    assert!(matches!(e, Error::Hub { .. }), "{e:?}");
    let e = Pretrained::load("tiny-org/absent", &opts).unwrap_err();
    assert!(matches!(e, Error::Hub { .. }), "{e:?}");
    std::fs::remove_dir_all(&cache).unwrap();
}

/// Half precision on CPU: outputs are ≈ 3 in magnitude and bf16 keeps 8 mantissa bits, so
/// after two layers errors of a few 1e-2 are expected; this bounds gross errors only.
const HALF_TOL: f32 = 0.25;

#[test]
fn half_precision_runs_close_to_f32() {
    let name = "wav2vec2-ctc-stable";
    let r = reference(name);
    for dt in [DType::BF16, DType::F16] {
        let p = Pretrained::from_dir(model_dir(name), &LoadOptions::default().dtype(dt)).unwrap();
        assert_eq!(p.model.dtype(), dt);
        let x = feature_extractor()["single.input_values"].clone();
        let out = p
            .model
            .forward(
                &x,
                None,
                &ForwardOptions::default().hidden_states(LayerSelection::Some(vec![1])),
            )
            .unwrap();
        let got = out.last_hidden_state.to_dtype(DType::F32).unwrap();
        let diff = (got - &r["single.last_hidden_state"])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        eprintln!("{dt:?}: max |diff| {diff:.3e}");
        assert!(diff < HALF_TOL, "{dt:?}: {diff}");
        assert_eq!(
            out.hidden_states.keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
    }
}

#[test]
fn chunked_long_audio_stitches_frames() {
    use voxprobe_ssl::ChunkOptions;
    let name = "wav2vec2-ctc-stable";
    let p = Pretrained::from_dir(model_dir(name), &LoadOptions::default()).unwrap();
    let fe = feature_extractor();
    let a: Vec<f32> = fe["signal.a"].to_vec1().unwrap();
    let b: Vec<f32> = fe["signal.b"].to_vec1().unwrap();
    let long: Vec<f32> = a.iter().chain(&b).chain(&a).copied().collect(); // 43 237 samples
    let fwd = ForwardOptions::default().hidden_states(LayerSelection::All);
    // one window covering everything equals a plain forward pass
    let whole = p.embed_long(&long, &ChunkOptions::default(), &fwd).unwrap();
    let x = Tensor::from_vec(
        voxprobe_ssl::normalize(&long),
        (1, long.len()),
        &Device::Cpu,
    )
    .unwrap();
    let plain = p.model.forward(&x, None, &fwd).unwrap();
    assert_close(
        "unchunked",
        &whole.last_hidden_state,
        &plain.last_hidden_state,
    );
    // 0.5 s kept + 0.3 s context: every frame present once, in order
    let opts = ChunkOptions::default()
        .chunk_seconds(0.5)
        .context_seconds(0.3);
    let out = p.embed_long(&long, &opts, &fwd).unwrap();
    let total = p.model.frames_for(long.len());
    assert_eq!(out.last_hidden_state.dims(), &[1, total, 32]);
    assert_eq!(out.logits.as_ref().unwrap().dims(), &[1, total, 12]);
    assert_eq!(out.hidden_states.len(), 3);
    // window 1 keeps frames 25..50 and sees frames 10..65 (samples 3200..20880)
    let w = Tensor::from_vec(
        voxprobe_ssl::normalize(&long)[3200..20880].to_vec(),
        (1, 17680),
        &Device::Cpu,
    )
    .unwrap();
    let w_out = p.model.forward(&w, None, &fwd).unwrap();
    assert_close(
        "window 1",
        &out.last_hidden_state.narrow(1, 25, 25).unwrap(),
        &w_out.last_hidden_state.narrow(1, 15, 25).unwrap(),
    );
}

#[test]
fn hf_hub_offline_env_var_forbids_downloads() {
    // Only this test reads HF_HUB_OFFLINE through LoadOptions without an explicit `offline`.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let cache = scratch_dir("hub-offline-env");
    let e = Pretrained::load(
        "tiny-org/not-cached",
        &LoadOptions::default().cache_dir(&cache),
    )
    .unwrap_err();
    std::env::remove_var("HF_HUB_OFFLINE");
    assert!(
        matches!(e, Error::Hub { ref reason } if reason.contains("offline")),
        "{e:?}"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}
