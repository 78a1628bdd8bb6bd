//! Transcribe a folder of audio with a CTC model, then audit the transcripts against a
//! reference file with voxprobe-audit (error-align ops, WER family, per-group diversity tax).
//!
//! ```text
//! # offline, bundled LibriVox clips + the tiny random CTC checkpoint (pipeline check only)
//! cargo run --release --example transcribe_audit --no-default-features --features ssl,audio,audit
//! # a real model from the hub
//! cargo run --release --example transcribe_audit --no-default-features --features ssl,audio,audit,hub -- \
//!     --model facebook/wav2vec2-base-960h --audio-dir crates/voxprobe-audio/tests/data \
//!     --refs examples/data/librivox/refs.tsv --out out/transcribe_audit
//! ```
//!
//! For each reference id (`id<TAB>text` or `id<TAB>group<TAB>text`) it looks for
//! `<audio-dir>/<id>.{wav,flac,mp3,ogg,m4a,aiff}`; missing audio is an error naming the ids.
//! Writes `hyps.tsv` and the audit report (`report.json`, `utterances.jsonl`, `report.html`) to
//! `--out`, and ends with a JSON summary line on stdout.
//!
//! Test models: a checkpoint is treated as one of the tiny random models of `models/` (made by
//! `scripts/gen_ssl_fixtures.py`) when its hidden size is below 64 or its CTC vocabulary has
//! fewer than 28 tokens (real English character vocabularies have 32). Their transcripts are
//! meaningless and the output says so loudly; the run then only checks the pipeline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use voxprobe::audit::audit::{audit, parse_kaldi, AuditOptions};
use voxprobe::audit::Normalizer;
use voxprobe::ssl::candle_core::{utils, Device};
use voxprobe::ssl::{LoadOptions, Pretrained, TranscribeOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Parser)]
#[command(about = "CTC transcription of a folder, then an ASR audit against references")]
struct Args {
    /// CTC model directory (HF layout) or hub id (download needs --features hub).
    #[arg(long, default_value = "models/tiny-wav2vec2-ctc-base")]
    model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Folder with `<id>.<ext>` audio files.
    #[arg(long, default_value = "crates/voxprobe-audio/tests/data")]
    audio_dir: PathBuf,
    /// References: `id<TAB>text` or `id<TAB>group<TAB>text`.
    #[arg(long, default_value = "examples/data/librivox/refs.tsv")]
    refs: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/transcribe_audit")]
    out: PathBuf,
    /// Text normalisation before scoring (CTC models emit upper case; references are usually
    /// lower case): none, standard, or a comma list (see voxprobe-audit's `Normalizer`).
    #[arg(long, default_value = "standard")]
    normalize: String,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

const EXTENSIONS: [&str; 6] = ["wav", "flac", "mp3", "ogg", "m4a", "aiff"];

fn device(d: DeviceArg) -> Result<Device> {
    match d {
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda => {
            if !utils::cuda_is_available() {
                bail!(
                    "--device cuda: this example was built without CUDA support; add \
                     `--features cuda` (needs the CUDA toolkit), or use --device cpu"
                );
            }
            Device::new_cuda(0).map_err(|e| {
                anyhow!("--device cuda: CUDA is compiled in but no usable GPU was found ({e})")
            })
        }
    }
}

/// See the module docs: hidden size < 64 or fewer than 28 CTC tokens.
fn is_test_model(m: &Pretrained) -> bool {
    m.model.hidden_size() < 64 || m.vocab.as_ref().is_some_and(|v| v.len() < 28)
}

fn find_audio(dir: &Path, id: &str) -> Option<PathBuf> {
    EXTENSIONS
        .iter()
        .map(|e| dir.join(format!("{id}.{e}")))
        .find(|p| p.is_file())
}

/// Resolves a default relative path against the package root when run from elsewhere.
fn resolve(p: &Path) -> PathBuf {
    if p.exists() || p.is_absolute() {
        return p.to_path_buf();
    }
    let alt = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    if alt.exists() {
        alt
    } else {
        p.to_path_buf()
    }
}

fn main() -> Result<()> {
    let summary = run(&Args::parse())?;
    println!("{summary}");
    Ok(())
}

/// The whole pipeline; returns the JSON summary.
fn run(args: &Args) -> Result<serde_json::Value> {
    let refs_path = resolve(&args.refs);
    let audio_dir = resolve(&args.audio_dir);
    let model_id = resolve(Path::new(&args.model)).display().to_string();
    let refs_text = std::fs::read_to_string(&refs_path)
        .with_context(|| format!("reading {}", refs_path.display()))?;
    // The references alone, to list the ids and their audio before loading the model.
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for line in refs_text.lines().filter(|l| !l.trim().is_empty()) {
        let id = line.split('\t').next().unwrap_or_default().to_string();
        match find_audio(&audio_dir, &id) {
            Some(p) => items.push((id, p)),
            None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        bail!(
            "no audio in {} for {} reference id(s): {} (looked for <id>.{{{}}})",
            audio_dir.display(),
            missing.len(),
            missing.join(", "),
            EXTENSIONS.join(",")
        );
    }
    if items.is_empty() {
        bail!("{}: no references", refs_path.display());
    }

    let opts = LoadOptions::default()
        .device(device(args.device)?)
        .revision(args.revision.clone());
    let model =
        Pretrained::load(&model_id, &opts).with_context(|| format!("loading {model_id}"))?;
    if model.vocab.is_none() || !model.model.has_ctc_head() {
        bail!("{model_id} is not a CTC checkpoint (no *ForCTC head or no vocab.json)");
    }
    let test_model = is_test_model(&model);
    let banner = "!!! TEST MODEL: tiny random weights, the transcripts and error rates below are \
                  MEANINGLESS (pipeline check only) !!!";
    if test_model {
        eprintln!("{banner}");
    }
    let audio_opts =
        voxprobe::audio::LoadOptions::default().target_rate(model.preprocessor.sampling_rate);
    let pb = ProgressBar::new(items.len() as u64);
    {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            pb.set_draw_target(ProgressDrawTarget::hidden());
        }
    }
    pb.set_style(ProgressStyle::with_template(
        "transcribe {bar:40} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    )?);
    let mut audio_s = 0f64;
    let mut waves = Vec::with_capacity(items.len());
    for (id, path) in &items {
        pb.set_message(format!("decoding {id}"));
        let wav = voxprobe::audio::load(path, &audio_opts)
            .with_context(|| format!("decoding {}", path.display()))?;
        audio_s += wav.duration_secs();
        waves.push(wav.samples);
    }
    // batched, masked CTC where batching is exact (one by one otherwise); the audio was
    // resampled to the model's rate above, which transcribe_batch checks
    pb.set_message("transcribing");
    let t0 = Instant::now();
    let refs: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
    let mut texts = vec![String::new(); items.len()];
    model
        .transcribe_each(
            &refs,
            model.preprocessor.sampling_rate,
            &TranscribeOptions::default(),
            |i, t| {
                if let Some(slot) = texts.get_mut(i) {
                    *slot = t.text().replace(['\t', '\n'], " ");
                }
                pb.inc(1);
                Ok(())
            },
        )
        .context("transcribing")?;
    let compute_s = t0.elapsed().as_secs_f64();
    let mut hyps = String::new();
    for ((id, _), text) in items.iter().zip(&texts) {
        hyps.push_str(&format!("{id}\t{text}\n"));
    }
    pb.finish_and_clear();

    let (utts, issues) = parse_kaldi(
        &refs_text,
        &refs_path.display().to_string(),
        &hyps,
        "transcripts",
        false,
    )?;
    let aopts = AuditOptions::default()
        .normalizer(Normalizer::parse(&args.normalize)?)
        .bootstrap_samples(args.bootstrap);
    let result = audit(&utts, issues, &aopts, &|| {})?;
    result.write_dir(&args.out)?;
    std::fs::write(args.out.join("hyps.tsv"), &hyps)
        .with_context(|| format!("writing {}/hyps.tsv", args.out.display()))?;
    let r = &result.report;
    for u in &utts {
        println!(
            "{0}\tREF: {1}\n{0}\tHYP: {2}",
            u.id, u.reference, u.hypothesis
        );
    }
    println!(
        "{} utterances, {audio_s:.1} s audio, {compute_s:.2} s compute (RTF {:.3}); corpus WER {:.4} CER {:.4}",
        r.corpus.utterances,
        compute_s / audio_s.max(f64::EPSILON),
        r.corpus.measures.wer,
        r.corpus.cer
    );
    if test_model {
        println!("{banner}");
    }
    println!(
        "wrote {0}/hyps.tsv, {0}/report.json, utterances.jsonl, report.html",
        args.out.display()
    );
    let summary = serde_json::json!({
        "example": "transcribe_audit",
        "model": args.model,
        "test_model": test_model,
        "transcripts_meaningless": test_model,
        "utterances": r.corpus.utterances,
        "audio_seconds": audio_s,
        "compute_seconds": compute_s,
        "rtf": compute_s / audio_s.max(f64::EPSILON),
        "wer": r.corpus.measures.wer,
        "cer": r.corpus.cer,
        "normalization": r.normalization,
        "out": args.out.display().to_string(),
    });
    Ok(summary)
}

#[cfg(test)]
mod tests {
    //! `cargo test` runs this (the example is registered with `test = true`): the whole
    //! pipeline offline on the bundled LibriVox clips with the tiny CTC checkpoint.
    use super::*;

    #[test]
    fn tiny_checkpoint_pipeline_runs_and_says_transcripts_are_meaningless() {
        let out = std::env::temp_dir().join(format!("transcribe_audit-{}", std::process::id()));
        let args = Args::parse_from([
            "transcribe_audit",
            "--out",
            out.to_str().unwrap(),
            "--bootstrap",
            "20",
        ]);
        let s = run(&args).unwrap();
        assert_eq!(s["test_model"], true);
        assert_eq!(s["transcripts_meaningless"], true);
        assert_eq!(s["utterances"], 5);
        assert!(s["audio_seconds"].as_f64().unwrap() > 20.0, "{s}");
        let hyps = std::fs::read_to_string(out.join("hyps.tsv")).unwrap();
        assert_eq!(hyps.lines().count(), 5);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["corpus"]["measures"]["wer"], s["wer"]);
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn missing_audio_and_cuda_fail_clearly() {
        let dir =
            std::env::temp_dir().join(format!("transcribe_audit-refs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let refs = dir.join("refs.tsv");
        std::fs::write(&refs, "no_such_utterance\thello\n").unwrap();
        let args = Args::parse_from(["t", "--refs", refs.to_str().unwrap()]);
        let err = run(&args).unwrap_err().to_string();
        assert!(err.contains("no_such_utterance"), "{err}");
        if !utils::cuda_is_available() {
            let err = device(DeviceArg::Cuda).unwrap_err().to_string();
            assert!(err.contains("built without CUDA"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
