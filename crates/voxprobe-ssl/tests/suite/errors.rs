//! Bad checkpoints and inputs produce the documented typed errors.

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use voxprobe_ssl::{
    Checkpoint, Config, Error, ForwardOptions, LayerSelection, LoadOptions, Pretrained, SslModel,
};

const NAME: &str = "wav2vec2-ctc-base";

fn tensors() -> HashMap<String, Tensor> {
    load_st(model_dir(NAME).join("model.safetensors"))
}

fn config() -> Config {
    Config::from_file(model_dir(NAME).join("config.json")).unwrap()
}

fn build(ts: HashMap<String, Tensor>) -> voxprobe_ssl::Result<SslModel> {
    SslModel::from_checkpoint(
        Checkpoint::from_tensors(ts),
        &config(),
        DType::F32,
        &Device::Cpu,
    )
}

#[test]
fn missing_key_is_named() {
    let mut ts = tensors();
    ts.remove("wav2vec2.encoder.layers.1.feed_forward.output_dense.bias")
        .unwrap();
    match build(ts) {
        Err(Error::Checkpoint {
            missing,
            unexpected,
            mismatched,
        }) => {
            assert_eq!(
                missing,
                vec!["wav2vec2.encoder.layers.1.feed_forward.output_dense.bias"]
            );
            assert!(unexpected.is_empty() && mismatched.is_empty());
        }
        other => panic!("expected Checkpoint error, got {other:?}"),
    }
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let mut ts = tensors();
    ts.insert(
        "lm_head.weight".into(),
        Tensor::zeros((13, 32), DType::F32, &Device::Cpu).unwrap(),
    );
    match build(ts) {
        Err(Error::Checkpoint {
            mismatched,
            missing,
            ..
        }) => {
            assert!(missing.is_empty());
            assert_eq!(mismatched.len(), 1);
            assert_eq!(mismatched[0].name, "lm_head.weight");
            assert_eq!(mismatched[0].expected, vec![12, 32]);
            assert_eq!(mismatched[0].actual, vec![13, 32]);
        }
        other => panic!("expected Checkpoint error, got {other:?}"),
    }
}

#[test]
fn all_problems_are_reported_in_one_error() {
    let mut ts = tensors();
    ts.remove("wav2vec2.feature_projection.projection.weight")
        .unwrap();
    ts.remove("wav2vec2.encoder.layer_norm.bias").unwrap();
    ts.insert(
        "wav2vec2.encoder.bogus".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    ts.insert(
        "wav2vec2.encoder.layers.0.attention.q_proj.bias".into(),
        Tensor::zeros(31, DType::F32, &Device::Cpu).unwrap(),
    );
    // training-only keys are not "unexpected"
    ts.insert(
        "wav2vec2.masked_spec_embed".into(),
        Tensor::zeros(32, DType::F32, &Device::Cpu).unwrap(),
    );
    let err = build(ts).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::Checkpoint {
            missing,
            unexpected,
            mismatched,
        } => {
            assert_eq!(missing.len(), 2);
            assert_eq!(unexpected, vec!["wav2vec2.encoder.bogus"]);
            assert_eq!(mismatched.len(), 1);
        }
        other => panic!("expected Checkpoint error, got {other:?}"),
    }
    for k in [
        "projection.weight",
        "encoder.layer_norm.bias",
        "encoder.bogus",
        "q_proj.bias",
    ] {
        assert!(msg.contains(k), "{msg}");
    }
}

#[test]
fn unknown_model_type_and_unsupported_options() {
    let e = Config::from_json_str(r#"{"model_type": "bert"}"#).unwrap_err();
    assert!(matches!(e, Error::UnknownModelType { ref model_type } if model_type == "bert"));
    let e =
        Config::from_json_str(r#"{"model_type": "wav2vec2", "add_adapter": true}"#).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOption { ref option, .. } if option == "add_adapter"));
    let e =
        Config::from_json_str(r#"{"model_type": "wav2vec2", "adapter_attn_dim": 16}"#).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedOption { ref option, .. } if option == "adapter_attn_dim")
    );
    let e = Config::from_json_str(r#"{"model_type": "hubert", "feat_extract_norm": "batch"}"#)
        .unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedOption { ref option, .. } if option == "feat_extract_norm")
    );
    let e = Config::from_json_str(r#"{"model_type": "wavlm", "hidden_act": "mish"}"#).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOption { ref option, .. } if option == "hidden_act"));
    let e = Config::from_json_str(
        r#"{"model_type": "wav2vec2", "hidden_size": 30, "num_attention_heads": 4}"#,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { ref option, .. } if option == "num_attention_heads")
    );
    let e = Config::from_json_str("{not json").unwrap_err();
    assert!(matches!(e, Error::Json { .. }));
    // architectures alone are enough to find the family
    let c = Config::from_json_str(r#"{"architectures": ["WavLMForCTC"]}"#).unwrap();
    assert_eq!(c.family(), voxprobe_ssl::Family::WavLm);
    assert!(c.is_ctc());
}

#[test]
fn truncated_safetensors_is_a_weight_file_error() {
    let dir = scratch_dir("truncated");
    for f in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(model_dir(NAME).join(f), dir.join(f)).unwrap();
    }
    let full = std::fs::read(model_dir(NAME).join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &full[..full.len() / 2]).unwrap();
    let e = Pretrained::from_dir(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::WeightFile { .. }), "{e:?}");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = Pretrained::from_dir(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NoWeights { .. }), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_typed_errors() {
    let p = Pretrained::from_dir(model_dir(NAME), &LoadOptions::default()).unwrap();
    let short = Tensor::zeros((1, 399), DType::F32, &Device::Cpu).unwrap();
    let e = p
        .model
        .forward(&short, None, &ForwardOptions::default())
        .unwrap_err();
    assert!(matches!(
        e,
        Error::InputTooShort {
            samples: 399,
            min_samples: 400
        }
    ));
    let ok = Tensor::zeros((1, 400), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(
        p.model
            .forward(&ok, None, &ForwardOptions::default())
            .unwrap()
            .frame_lengths,
        vec![1]
    );
    let e = p
        .model
        .forward(
            &ok,
            None,
            &ForwardOptions::default().hidden_states(LayerSelection::Some(vec![3])),
        )
        .unwrap_err();
    assert!(matches!(e, Error::LayerOutOfRange { layer: 3, max: 2 }));
    let rank3 = Tensor::zeros((1, 1, 400), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        p.model.forward(&rank3, None, &ForwardOptions::default()),
        Err(Error::InvalidInput { .. })
    ));
    let nan = vec![f32::NAN; 1000];
    assert!(matches!(
        p.transcribe(&nan),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(p.transcribe(&[]), Err(Error::InvalidInput { .. })));
    let mask = Tensor::from_vec(vec![1u8; 300], (1, 300), &Device::Cpu).unwrap();
    let x = Tensor::zeros((1, 300), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        p.model.forward(&x, Some(&mask), &ForwardOptions::default()),
        Err(Error::InputTooShort { .. })
    ));
    // the base model has no head
    let base = Pretrained::from_dir(model_dir("wav2vec2-base"), &LoadOptions::default()).unwrap();
    assert!(matches!(
        base.transcribe(&vec![0.1f32; 1000]),
        Err(Error::NoCtcHead { .. })
    ));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Error>();
    check::<SslModel>();
    check::<Pretrained>();
    check::<voxprobe_ssl::SslOutput>();
}
