//! Loading a manifest entry's audio: the whole file, or exactly its segment.

use voxprobe_audio::{self as audio, LoadOptions, MonoAudio};

use super::Entry;

/// The first and one-past-last native-rate frame of a segment: `[round(start · rate),
/// round(end · rate))`, `end` = the end of the file when `None`, clamped to the file.
pub fn segment_frames(start: f64, end: Option<f64>, rate: u32, frames: usize) -> (usize, usize) {
    let at = |t: f64| {
        let x = (t * f64::from(rate)).round();
        if x <= 0.0 {
            0
        } else {
            // `as` saturates; the clamp keeps it inside the file.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = x as usize;
            v.min(frames)
        }
    };
    let a = at(start);
    let b = end.map_or(frames, at);
    (a, b.max(a))
}

/// Loads `e`'s audio as mono at `opts.target_rate`: the whole file, or for a segment
/// (`start`/`end`) exactly the native-rate frames [`segment_frames`] names, then downmixed,
/// resampled and normalised as [`voxprobe_audio::load`] does.
///
/// # Errors
/// The audio crate's errors; a segment that starts past the end of its file is
/// [`voxprobe_audio::Error`]'s parameter error for an empty signal.
pub fn load_entry(e: &Entry, opts: &LoadOptions) -> audio::Result<MonoAudio> {
    if !e.is_segment() {
        return audio::load(&e.path, opts);
    }
    let start = e.start.unwrap_or(0.0);
    // Decodes the whole recording and slices it; becomes a seeking decode once
    // voxprobe-audio has `DecodeOptions::segment`.
    let a = audio::decode_file(&e.path, &opts.decode)?;
    let ch = a.info.channels.max(1);
    let (s, t) = segment_frames(start, e.end, a.info.sample_rate, a.frames());
    let slice = a.samples.get(s * ch..t * ch).unwrap_or(&[]);
    let mono = audio::downmix(slice, ch, opts.downmix)?;
    let mut samples = if a.info.sample_rate == opts.target_rate {
        mono
    } else {
        audio::resample(&mono, a.info.sample_rate, opts.target_rate, opts.quality)?
    };
    audio::normalize(&mut samples, opts.normalize)?;
    Ok(MonoAudio {
        samples,
        sample_rate: opts.target_rate,
        info: a.info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_frames_round_and_clamp() {
        assert_eq!(
            segment_frames(0.5, Some(1.0), 16_000, 100_000),
            (8000, 16_000)
        );
        assert_eq!(segment_frames(0.00003, Some(0.00009), 16_000, 100), (0, 1));
        assert_eq!(segment_frames(1.0, None, 8000, 9000), (8000, 9000));
        assert_eq!(segment_frames(2.0, Some(3.0), 8000, 9000), (9000, 9000));
    }
}
