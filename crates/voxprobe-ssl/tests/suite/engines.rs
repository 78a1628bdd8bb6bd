//! The two engines (issue 17): chosen at load time, both whole, the CPU engine's threads per
//! call, typed refusals, and a tidy check that library code neither prints nor reads the
//! environment outside the Hugging Face cache conventions.

use crate::common::*;
use candle_core::DType;
use voxprobe_ssl::{EngineKind, Error, ForwardOptions, LayerSelection, LoadOptions, Pretrained};

#[test]
fn auto_picks_the_cpu_engine_for_cpu_f32_and_the_graph_otherwise() {
    let dir = model_dir("wavlm-base");
    let p = Pretrained::from_dir(&dir, &LoadOptions::default()).unwrap();
    assert_eq!(p.model.engine(), EngineKind::Cpu);
    let p = Pretrained::from_dir(&dir, &LoadOptions::default().dtype(DType::F16)).unwrap();
    assert_eq!(p.model.engine(), EngineKind::Candle);
    let p = Pretrained::from_dir(&dir, &LoadOptions::default().engine(EngineKind::Candle)).unwrap();
    assert_eq!(p.model.engine(), EngineKind::Candle);
}

#[test]
fn the_cpu_engine_refuses_half_precision_by_name() {
    let opts = LoadOptions::default()
        .engine(EngineKind::Cpu)
        .dtype(DType::BF16);
    let e = Pretrained::from_dir(model_dir("wav2vec2-base"), &opts).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedOption { option, .. } if option == "engine"),
        "{e}"
    );
}

#[test]
fn cpu_engine_threads_are_per_call_and_agree() {
    // WavLM stable exercises the gated relative position bias and pre-LN at once
    let p = Pretrained::from_dir(model_dir("wavlm-stable"), &LoadOptions::default()).unwrap();
    let fe = feature_extractor();
    let x = &fe["batch.input_values"];
    let m = fe["batch.attention_mask"].clone();
    let run = |threads: usize| {
        let o = ForwardOptions::default()
            .threads(threads)
            .hidden_states(LayerSelection::Some(vec![1]));
        p.model.forward(x, Some(&m), &o).unwrap()
    };
    let one = run(1);
    let two = run(2);
    assert_close(
        "threads 1 vs 2",
        &two.last_hidden_state,
        &one.last_hidden_state,
    );
    assert_close("layer 1", &two.hidden_states[&1], &one.hidden_states[&1]);
}

#[test]
fn engines_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<voxprobe_ssl::SslModel>();
    check::<Pretrained>();
}

/// Library code prints nothing and reads no environment variable except the Hugging Face
/// cache conventions (`pretrained.rs`, `hub.rs`).
#[test]
fn library_code_neither_prints_nor_reads_the_environment() {
    let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            seen += 1;
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            for bad in ["println!", "eprintln!", "print!(", "dbg!("] {
                assert!(!text.contains(bad), "{name} uses {bad}");
            }
            if name != "pretrained.rs" && name != "hub.rs" {
                assert!(!text.contains("env::var"), "{name} reads the environment");
            }
        }
    }
    assert!(seen > 10);
}
