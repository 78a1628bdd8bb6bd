//! Fuzzes voxprobe-audio's decoders: any byte string must give samples or a typed error,
//! never a panic, hang or unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxprobe_audio::{
    decode_bytes, load_bytes, DecodeOptions, Endianness, LoadOptions, RawSampleFormat, RawSpec,
};

/// Caps decoded length so a tiny hostile file cannot make the fuzzer run out of memory.
const MAX_FRAMES: u64 = 1 << 22;

fuzz_target!(
    // libfuzzer-sys aborts on every panic, even one voxprobe-audio catches and turns into a
    // typed error (its backstop around symphonia); restore the default hook so only panics
    // that escape the library count as crashes.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
    let opts = DecodeOptions::new().max_frames(MAX_FRAMES);
    // Probe every container/codec.
    if let Ok(audio) = decode_bytes(data, "fuzz", &opts) {
        assert!(audio.samples.iter().all(|x| x.is_finite()));
        assert_eq!(audio.samples.len() % audio.info.channels, 0);
    }
    // The full load path: downmix + resample to 16 kHz from whatever rate the header claims.
    let _ = load_bytes(data, "fuzz", &LoadOptions::new().decode(opts.clone()));
    // Headerless PCM, layout chosen by the first byte.
    if let Some((&b, rest)) = data.split_first() {
        let formats = [
            RawSampleFormat::U8,
            RawSampleFormat::S8,
            RawSampleFormat::S16,
            RawSampleFormat::S24,
            RawSampleFormat::S32,
            RawSampleFormat::F32,
            RawSampleFormat::F64,
        ];
        let format = formats[usize::from(b) % formats.len()];
        let endian = if b & 0x80 == 0 {
            Endianness::Little
        } else {
            Endianness::Big
        };
        let channels = usize::from((b >> 4) & 0x3);
        let spec = RawSpec::new(8000 + u32::from(b) * 100, channels, format, endian);
        let _ = decode_bytes(rest, "fuzz.raw", &opts.clone().raw(spec));
    }
});
