//! Decode any supported audio file to mono 16-bit WAV at a target rate and print one JSON
//! line with the input's metadata and the decode / resample timings.
//!
//! ```text
//! cargo run --release --example decode --no-default-features --features audio -- \
//!     INPUT OUTPUT.wav [--rate HZ] [--channel N] [--stream]
//! ```
//!
//! `--stream` goes through `AudioStream` and writes chunk by chunk, so memory stays bounded
//! for files of any length (decode and resample are then interleaved and timed together).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use voxprobe::audio::{
    decode_file, downmix, resample, write_wav, AudioStream, DecodeOptions, Downmix,
    ResampleQuality, StreamOptions, WavFormat, WavWriter,
};

#[derive(Parser, Debug)]
#[command(about = "Decode audio to mono 16-bit WAV at a target rate")]
struct Args {
    /// Input audio file (WAV, FLAC, MP3, Ogg Vorbis, AAC/ALAC in MP4, AIFF).
    input: PathBuf,
    /// Output WAV path.
    output: PathBuf,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
    /// Keep only this channel (0-based) instead of averaging all channels.
    #[arg(long)]
    channel: Option<usize>,
    /// Stream in 1 s chunks with bounded memory instead of decoding the whole file first.
    #[arg(long)]
    stream: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mode = args.channel.map_or(Downmix::Mean, Downmix::Channel);
    if args.stream {
        return stream(&args, mode);
    }
    let t0 = Instant::now();
    let audio = decode_file(&args.input, &DecodeOptions::new())?;
    let decode_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let mono = downmix(&audio.samples, audio.info.channels, mode)?;
    let out = resample(
        &mono,
        audio.info.sample_rate,
        args.rate,
        ResampleQuality::High,
    )?;
    let resample_s = t1.elapsed().as_secs_f64();

    write_wav(&args.output, &out, args.rate, 1, WavFormat::Pcm16)?;
    let info = &audio.info;
    let line = serde_json::json!({
        "input": args.input.display().to_string(),
        "output": args.output.display().to_string(),
        "codec": info.codec,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "frames": info.frames,
        "duration_s": info.duration_secs(),
        "bits_per_sample": info.bits_per_sample,
        "skipped_packets": info.skipped_packets,
        "output_rate": args.rate,
        "output_frames": out.len(),
        "decode_s": decode_s,
        "downmix_resample_s": resample_s,
        "total_s": t0.elapsed().as_secs_f64(),
    });
    println!("{line}");
    Ok(())
}

fn stream(args: &Args, mode: Downmix) -> Result<()> {
    let t0 = Instant::now();
    let opts = StreamOptions::new().target_rate(args.rate).downmix(mode);
    let mut stream = AudioStream::open(&args.input, &opts)?;
    let mut writer = WavWriter::create(&args.output, args.rate, 1, WavFormat::Pcm16)?;
    for chunk in &mut stream {
        writer.write(&chunk?)?;
    }
    let output_frames = writer.written();
    writer.finalize()?;
    let info = stream.info();
    let line = serde_json::json!({
        "input": args.input.display().to_string(),
        "output": args.output.display().to_string(),
        "mode": "stream",
        "codec": info.codec,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "frames": info.frames,
        "duration_s": info.duration_secs(),
        "bits_per_sample": info.bits_per_sample,
        "skipped_packets": info.skipped_packets,
        "output_rate": args.rate,
        "output_frames": output_frames,
        "total_s": t0.elapsed().as_secs_f64(),
    });
    println!("{line}");
    Ok(())
}
