//! Cross-crate integration tests: one binary, a module per flow. Data come from the member
//! crates' `tests/data/` and the tiny checkpoints in `models/`, so a fresh clone runs offline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(feature = "audio", feature = "ssl", feature = "kmex"))]
mod speech_frames {
    //! Real speech → voxprobe-audio → a voxprobe-ssl encoder → k-means over its frames.
    use std::path::PathBuf;

    use ndarray::Array2;
    use voxprobe::ssl::{BatchOptions, ForwardOptions, LoadOptions, Pretrained};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn clip() -> voxprobe::audio::MonoAudio {
        let path = root()
            .join("crates/voxprobe-audio/tests/data/sense_and_sensibility_01_austen_64kb-0870.wav");
        voxprobe::audio::load(path, &voxprobe::audio::LoadOptions::default()).unwrap()
    }

    #[test]
    fn decoded_speech_feeds_encoder_and_kmeans() {
        let wav = clip();
        assert_eq!(wav.sample_rate, 16_000);
        let model = Pretrained::from_dir(
            root().join("models/tiny-wav2vec2-base"),
            &LoadOptions::default(),
        )
        .unwrap();
        let out = model
            .embed(
                &[&wav.samples],
                &BatchOptions::default(),
                &ForwardOptions::default(),
            )
            .unwrap();
        let frames = model.model.frames_for(wav.samples.len());
        assert_eq!(out.frame_lengths, vec![frames]);
        let h = out.last_hidden_state.squeeze(0).unwrap();
        let (t, d) = h.dims2().unwrap();
        assert_eq!(t, frames);
        let v: Vec<f64> = h
            .to_vec2::<f32>()
            .unwrap()
            .into_iter()
            .flatten()
            .map(f64::from)
            .collect();
        assert!(
            v.iter().all(|x| x.is_finite()),
            "encoder output has NaN/inf"
        );
        let x = Array2::from_shape_vec((t, d), v).unwrap();
        let km = voxprobe::kmex::KMeansParams::new(4)
            .n_init(2)
            .seed(0)
            .fit(x.view())
            .unwrap();
        assert_eq!(km.labels().len(), frames);
        assert_eq!(km.predict(x.view()).unwrap(), km.labels());
    }

    #[test]
    fn decoded_speech_transcribes_with_tiny_ctc_checkpoint() {
        // The tiny checkpoint has random weights: the text is meaningless, the pipeline is not.
        let wav = clip();
        let model = Pretrained::from_dir(
            root().join("models/tiny-wav2vec2-ctc-base"),
            &LoadOptions::default(),
        )
        .unwrap();
        let text = model.transcribe(&wav.samples).unwrap();
        assert!(model.vocab.is_some(), "CTC checkpoint without vocab.json");
        assert!(
            text.chars().all(|c| !c.is_control()),
            "control char in {text:?}"
        );
    }
}
