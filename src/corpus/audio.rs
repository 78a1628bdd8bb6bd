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
/// (`start`/`end`) exactly the native-rate frames [`segment_frames`] names (voxprobe-audio's
/// seeking segment decoding), then downmixed, resampled and normalised as
/// [`voxprobe_audio::load`] does.
///
/// # Errors
/// The audio crate's errors (a segment starting past the end of its file among them).
pub fn load_entry(e: &Entry, opts: &LoadOptions) -> audio::Result<MonoAudio> {
    if !e.is_segment() {
        return audio::load(&e.path, opts);
    }
    // Exact frames [round(start · rate), round(end · rate)) of the native-rate file, by
    // seeking; an end a little past the file (common in Kaldi `segments`) is clamped.
    let decode = opts
        .decode
        .clone()
        .segment(e.start.unwrap_or(0.0), e.end)
        .lenient_segment_end(true);
    audio::load(&e.path, &opts.clone().decode(decode))
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
