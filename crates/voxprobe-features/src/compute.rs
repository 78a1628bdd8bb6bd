//! [`Fbank`] and [`Mfcc`]: option checking, plan caching and the frame loop.

use std::sync::{Arc, Mutex};

use ndarray::Array2;
use rayon::prelude::*;

use crate::error::Result;
use crate::frames::{check_wave, Plan, Scratch, EPSILON};
use crate::options::{FbankOptions, FrameOptions, MelOptions, MfccOptions};

/// Frames per parallel work item: large enough that scheduling is negligible next to
/// 64 FFTs, small enough that a few seconds of audio already use several threads.
const FRAMES_PER_TASK: usize = 64;

/// Cepstra kept on the stack per frame (Kaldi setups use 13-40); more fall back to the heap.
const MAX_CEPS_ON_STACK: usize = 64;

/// Plans keyed by sample rate, built on first use. Most corpora have one rate, so this holds
/// one or two entries; the lock is taken once per call, never per frame.
#[derive(Default)]
struct PlanCache(Mutex<Vec<Arc<Plan>>>);

impl PlanCache {
    fn get(&self, frame: &FrameOptions, mel: &MelOptions, sample_rate: u32) -> Result<Arc<Plan>> {
        // A poisoned lock only means another thread panicked while pushing; the Vec is valid.
        let mut plans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = plans.iter().find(|p| p.sample_rate == sample_rate) {
            return Ok(Arc::clone(p));
        }
        let plan = Arc::new(Plan::new(frame, mel, sample_rate)?);
        plans.push(Arc::clone(&plan));
        Ok(plan)
    }
}

/// Runs `row` over every frame (in parallel chunks) and returns the `frames × dim` matrix.
fn frame_loop<F>(
    plan: &Plan,
    wave: &[f32],
    frame: &FrameOptions,
    use_power: bool,
    dim: usize,
    row: F,
) -> Result<Array2<f32>>
where
    F: Fn(f64, &mut [f64], &mut [f32]) + Sync,
{
    check_wave(wave, plan.window_size)?;
    if (wave.len() as f64) < frame.min_duration * f64::from(plan.sample_rate) {
        return Ok(Array2::zeros((0, dim)));
    }
    let n_frames = plan.num_frames(wave.len(), frame.snip_edges);
    let n_mel = plan.mel.filters.len();
    let mut out = vec![0.0f32; n_frames * dim];
    let work = |(task, chunk): (usize, &mut [f32])| {
        let mut scratch: Scratch = plan.scratch();
        let mut mel = vec![0.0f64; n_mel];
        for (k, out_row) in chunk.chunks_exact_mut(dim).enumerate() {
            let index = task * FRAMES_PER_TASK + k;
            let log_energy = plan.frame_spectrum(wave, index, frame, use_power, &mut scratch);
            plan.mel.apply(&scratch.power, &mut mel);
            row(log_energy, &mut mel, out_row);
        }
    };
    if n_frames > FRAMES_PER_TASK {
        out.par_chunks_mut(FRAMES_PER_TASK * dim)
            .enumerate()
            .for_each(work);
    } else {
        out.chunks_mut(FRAMES_PER_TASK * dim.max(1))
            .enumerate()
            .for_each(work);
    }
    // The length is n_frames * dim by construction.
    Ok(Array2::from_shape_vec((n_frames, dim), out).unwrap_or_else(|_| Array2::zeros((0, dim))))
}

fn subtract_column_mean(x: &mut Array2<f32>) {
    if x.nrows() == 0 {
        return;
    }
    for mut col in x.columns_mut() {
        let mean = (col.iter().map(|&v| f64::from(v)).sum::<f64>() / col.len() as f64) as f32;
        col.iter_mut().for_each(|v| *v -= mean);
    }
}

/// Log-mel filterbank features, equal to `torchaudio.compliance.kaldi.fbank` (Kaldi's
/// `compute-fbank-feats`).
///
/// Cheap to share: `compute` takes `&self`, and the FFT plan and mel bank for each sample rate
/// are built once and cached.
pub struct Fbank {
    opts: FbankOptions,
    plans: PlanCache,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fbank").field("opts", &self.opts).finish()
    }
}

impl Clone for Fbank {
    fn clone(&self) -> Self {
        Self {
            opts: self.opts.clone(),
            plans: PlanCache::default(),
        }
    }
}

impl Fbank {
    /// Checks the options (those that depend on the sample rate are checked by `compute`).
    pub fn new(opts: FbankOptions) -> Result<Self> {
        opts.check()?;
        Ok(Self {
            opts,
            plans: PlanCache::default(),
        })
    }

    /// The options.
    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Number of output columns.
    pub fn dim(&self) -> usize {
        self.opts.dim()
    }

    /// Features of a mono waveform sampled at `sample_rate` Hz: `frames × dim`.
    ///
    /// The waveform is used as given. Kaldi recipes (and most torchaudio users of this
    /// function) pass samples scaled like 16-bit integers (`x * 32768` for audio in [-1, 1]);
    /// with [-1, 1] audio the log energies are shifted by `ln(32768²) ≈ 20.8` and the
    /// `energy_floor` of 1.0 clips far more frames.
    pub fn compute(&self, waveform: &[f32], sample_rate: u32) -> Result<Array2<f32>> {
        let o = &self.opts;
        let plan = self.plans.get(&o.frame, &o.mel, sample_rate)?;
        let n_mel = o.mel.num_mel_bins;
        let mut out = frame_loop(
            &plan,
            waveform,
            &o.frame,
            o.use_power,
            o.dim(),
            |log_energy, mel, row| {
                if o.use_log_fbank {
                    mel.iter_mut().for_each(|v| *v = v.max(EPSILON).ln());
                }
                let (mel_cols, energy_col) = match (o.use_energy, o.htk_compat) {
                    (false, _) => (&mut row[..], None),
                    (true, false) => {
                        let (e, m) = row.split_at_mut(1);
                        (m, e.first_mut())
                    }
                    (true, true) => {
                        let (m, e) = row.split_at_mut(n_mel);
                        (m, e.first_mut())
                    }
                };
                mel_cols
                    .iter_mut()
                    .zip(mel.iter())
                    .for_each(|(o, &v)| *o = v as f32);
                if let Some(e) = energy_col {
                    *e = log_energy as f32;
                }
            },
        )?;
        if o.subtract_mean {
            subtract_column_mean(&mut out);
        }
        Ok(out)
    }
}

/// Mel-frequency cepstral coefficients, equal to `torchaudio.compliance.kaldi.mfcc` (Kaldi's
/// `compute-mfcc-feats`).
pub struct Mfcc {
    opts: MfccOptions,
    /// `num_mel_bins × num_ceps`, Kaldi's DCT-II with orthonormal scaling.
    dct: Vec<f64>,
    /// Cepstral lifter weights (all 1 without liftering).
    lift: Vec<f64>,
    plans: PlanCache,
}

impl std::fmt::Debug for Mfcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfcc").field("opts", &self.opts).finish()
    }
}

impl Clone for Mfcc {
    fn clone(&self) -> Self {
        Self {
            opts: self.opts.clone(),
            dct: self.dct.clone(),
            lift: self.lift.clone(),
            plans: PlanCache::default(),
        }
    }
}

impl Mfcc {
    /// Checks the options (those that depend on the sample rate are checked by `compute`).
    pub fn new(opts: MfccOptions) -> Result<Self> {
        opts.check()?;
        let n_mel = opts.mel.num_mel_bins;
        let n_ceps = opts.num_ceps;
        let lifter = f64::from(opts.cepstral_lifter);
        // torchaudio builds the DCT and the lifter in float32 whatever the waveform's dtype
        // (create_dct, _get_lifter_coeffs); their rounding moves MFCCs by up to ~3e-4, so they
        // are built here with the same float32 operations, then applied in f64.
        let pi_over_n = (std::f64::consts::PI / n_mel as f64) as f32;
        let mut dct = vec![0.0f64; n_mel * n_ceps];
        for n in 0..n_mel {
            for k in 0..n_ceps {
                let base = if k == 0 {
                    // Kaldi's C0 weight, assigned into the f32 matrix.
                    (1.0 / n_mel as f64).sqrt() as f32
                } else {
                    let arg = pi_over_n * (n as f32 + 0.5) * k as f32;
                    (f64::from(arg).cos() as f32) * ((2.0 / n_mel as f64).sqrt() as f32)
                };
                dct[n * n_ceps + k] = f64::from(base);
            }
        }
        let lift: Vec<f64> = (0..n_ceps)
            .map(|i| {
                if lifter == 0.0 {
                    return 1.0;
                }
                let arg = i as f32 * std::f32::consts::PI / lifter as f32;
                let half_l = (0.5 * lifter) as f32;
                f64::from(1.0f32 + half_l * (f64::from(arg).sin() as f32))
            })
            .collect();
        Ok(Self {
            opts,
            dct,
            lift,
            plans: PlanCache::default(),
        })
    }

    /// The options.
    pub fn options(&self) -> &MfccOptions {
        &self.opts
    }

    /// Number of output columns (`num_ceps`).
    pub fn dim(&self) -> usize {
        self.opts.dim()
    }

    /// Features of a mono waveform sampled at `sample_rate` Hz: `frames × num_ceps`.
    ///
    /// The waveform is used as given; see [`Fbank::compute`] on scaling.
    pub fn compute(&self, waveform: &[f32], sample_rate: u32) -> Result<Array2<f32>> {
        let o = &self.opts;
        let plan = self.plans.get(&o.frame, &o.mel, sample_rate)?;
        let n_ceps = o.num_ceps;
        let (dct, lift) = (&self.dct, &self.lift);
        let mut out = frame_loop(
            &plan,
            waveform,
            &o.frame,
            true,
            n_ceps,
            |log_energy, mel, row| {
                mel.iter_mut().for_each(|v| *v = v.max(EPSILON).ln());
                let mut ceps = [0.0f64; MAX_CEPS_ON_STACK];
                let mut heap;
                let ceps: &mut [f64] = if n_ceps <= MAX_CEPS_ON_STACK {
                    &mut ceps[..n_ceps]
                } else {
                    heap = vec![0.0f64; n_ceps];
                    &mut heap
                };
                for (m, d) in mel.iter().zip(dct.chunks_exact(n_ceps)) {
                    ceps.iter_mut().zip(d).for_each(|(r, w)| *r += m * w);
                }
                ceps.iter_mut().zip(lift).for_each(|(c, l)| *c *= l);
                if o.use_energy {
                    ceps[0] = log_energy;
                }
                if o.htk_compat {
                    // C0 (or energy) goes last; a true C0 gets the factor √2 that one common
                    // DCT convention has (Kaldi's comment: removing a scale added earlier).
                    let c0 = if o.use_energy {
                        ceps[0]
                    } else {
                        ceps[0] * std::f64::consts::SQRT_2
                    };
                    ceps.rotate_left(1);
                    ceps[n_ceps - 1] = c0;
                }
                row.iter_mut()
                    .zip(ceps.iter())
                    .for_each(|(r, &c)| *r = c as f32);
            },
        )?;
        if o.subtract_mean {
            subtract_column_mean(&mut out);
        }
        Ok(out)
    }
}
