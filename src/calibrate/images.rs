//! Image folders as samples (`--calibration-data DIR`, `run --input DIR`).
//!
//! A folder is searched recursively for `.png`/`.jpg`/`.jpeg` files (names starting with `.`,
//! such as macOS `._x.jpg` files, and symlinked folders are left out). When fewer samples are
//! asked for than there are images, the sample is drawn per subfolder (stratified: each
//! subfolder gives its share, rounded by largest remainder), with a seeded shuffle inside each,
//! so that the same seed gives the same images on every machine. Only headers are read while
//! choosing; each image is decoded by the worker that runs it, so memory does not grow with the
//! folder.
//!
//! Values: each 8-bit value `x` becomes `lo + x/255·(hi - lo)` for `--input-range lo,hi`, then
//! `(v - mean[c]) / std[c]`, with `--mean`/`--std` in the range's units.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::data::{DataError, Dims, InputSpec, SampleType, SampleValues};
use rayon::prelude::*;

/// The seed used when none is given (`--seed`).
pub const DEFAULT_SEED: u64 = 0;

/// Memory that decoded calibration data may hold at once (inflated `.npz` members, the images
/// being decoded by the workers), unless [`ImageOptions::max_bytes`] says otherwise: the
/// process's memory budget (`--max-memory`), read when the options are made.
pub fn default_max_bytes() -> u64 {
    crate::ir::budget::max_bytes()
}

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The scale 8-bit image values are mapped to before `--mean`/`--std` (`--input-range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputRange {
    /// `0,1`: `x/255`, Keras' `Rescaling(1/255)`.
    #[default]
    Unit,
    /// `-1,1`: `x/127.5 - 1`, MobileNet's and Inception's `preprocess_input`.
    Signed,
    /// `0,255`: the values as they are, as `(x - 127.5) / 127.5` pipelines write it.
    Byte,
}

impl InputRange {
    pub fn bounds(self) -> (f32, f32) {
        match self {
            InputRange::Unit => (0.0, 1.0),
            InputRange::Signed => (-1.0, 1.0),
            InputRange::Byte => (0.0, 255.0),
        }
    }

    fn width(self) -> f32 {
        let (lo, hi) = self.bounds();
        hi - lo
    }

    /// `0,1`, `-1,1` or `0,255` (spaces and decimal forms such as `0.0,255.0` accepted).
    pub fn parse(s: &str) -> Result<InputRange, String> {
        let nums: Option<Vec<f64>> = s.split(',').map(|p| p.trim().parse::<f64>().ok()).collect();
        match nums.as_deref() {
            Some([a, b]) if *a == 0.0 && *b == 1.0 => Ok(InputRange::Unit),
            Some([a, b]) if *a == -1.0 && *b == 1.0 => Ok(InputRange::Signed),
            Some([a, b]) if *a == 0.0 && *b == 255.0 => Ok(InputRange::Byte),
            _ => Err(format!("{s:?}: use 0,1, -1,1 or 0,255")),
        }
    }
}

impl fmt::Display for InputRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputRange::Unit => "0,1",
            InputRange::Signed => "-1,1",
            InputRange::Byte => "0,255",
        })
    }
}

/// How image folders become samples. A missing `mean` is 0 and a missing `std` is 1; a
/// one-element list applies to every channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageOptions {
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
    /// None: `0,1`, not given by the user (which matters only for the error on `.npy` data).
    pub range: Option<InputRange>,
    /// The seed of the stratified sample drawn when fewer samples are asked for than there are images.
    pub seed: u64,
    /// See [`default_max_bytes`].
    pub max_bytes: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions { mean: None, std: None, range: None, seed: DEFAULT_SEED, max_bytes: default_max_bytes() }
    }
}

impl ImageOptions {
    /// The normalisation flags the user gave (`--mean`, `--std`, `--input-range`), for errors.
    pub(crate) fn given(&self) -> Vec<&'static str> {
        [(self.mean.is_some(), "--mean"), (self.std.is_some(), "--std"), (self.range.is_some(), "--input-range")]
            .into_iter()
            .filter_map(|(g, n)| g.then_some(n))
            .collect()
    }

    /// Checks what can be checked without the model: finite values inside the range.
    pub(crate) fn check(&self) -> Result<(), DataError> {
        let range = self.range.unwrap_or_default();
        let (lo, hi) = range.bounds();
        let width = range.width();
        // The range whose units a value looks like, when it is not the one chosen.
        let hint = |fits: &dyn Fn(InputRange) -> bool| -> String {
            match [InputRange::Unit, InputRange::Byte, InputRange::Signed].into_iter().find(|&r| r != range && fits(r))
            {
                Some(r) => format!("; it looks like {r} units: use --input-range {r}"),
                None => String::new(),
            }
        };
        for &m in self.mean.iter().flatten() {
            if !m.is_finite() {
                return Err(DataError::NonFiniteNormalization { which: "mean", value: m });
            }
            if m < lo || m > hi {
                let fits = |r: InputRange| (r.bounds().0..=r.bounds().1).contains(&m);
                return Err(DataError::MeanOutsideRange { value: m, range, hint: hint(&fits) });
            }
        }
        for &s in self.std.iter().flatten() {
            if !s.is_finite() {
                return Err(DataError::NonFiniteNormalization { which: "std", value: s });
            }
            let step = width / 255.0;
            let fits = |r: InputRange| s > 0.0 && s <= r.width() && s >= r.width() / 255.0;
            if s <= 0.0 {
                return Err(DataError::StdNotPositive(s));
            }
            if s > width {
                return Err(DataError::StdOutsideRange {
                    value: s,
                    range,
                    why: format!("larger than the range is wide ({width})"),
                    hint: hint(&fits),
                });
            }
            if s < step {
                let reach = width / s;
                return Err(DataError::StdOutsideRange {
                    value: s,
                    range,
                    why: format!("smaller than one 8-bit step ({}), so values would reach ±{reach:.0}", short(step)),
                    hint: hint(&fits),
                });
            }
        }
        Ok(())
    }
}

/// `0.003922`, `1`.
fn short(x: f32) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Per channel: `out = x·scale[c] + offset[c]` for 8-bit `x`, computed in the documented order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Norm {
    lo: f32,
    width: f32,
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Norm {
    fn new(options: &ImageOptions, channels: usize) -> Result<Norm, DataError> {
        options.check()?;
        let (lo, hi) = options.range.unwrap_or_default().bounds();
        let mean = per_channel("mean", options.mean.as_deref(), channels, 0.0)?;
        let std = per_channel("std", options.std.as_deref(), channels, 1.0)?;
        Ok(Norm { lo, width: hi - lo, mean, std })
    }

    fn apply(&self, v: f32, c: usize) -> f32 {
        ((v / 255.0) * self.width + self.lo - self.mean[c]) / self.std[c]
    }
}

fn per_channel(
    which: &'static str,
    given: Option<&[f32]>,
    channels: usize,
    default: f32,
) -> Result<Vec<f32>, DataError> {
    match given {
        None => Ok(vec![default; channels]),
        Some([v]) => Ok(vec![*v; channels]),
        Some(v) if v.len() == channels => Ok(v.to_vec()),
        Some(v) => Err(DataError::BadNormalization { which, channels, got: v.len() }),
    }
}

/// One chosen image, decoded when its sample is taken.
#[derive(Debug)]
pub(crate) struct ImageJob {
    pub path: PathBuf,
    pub height: usize,
    pub width: usize,
    channels: usize,
    norm: Arc<Norm>,
    max_alloc: u64,
}

impl ImageJob {
    /// The sample's shape, `[1,H,W,C]`.
    pub fn shape(&self) -> Vec<usize> {
        vec![1, self.height, self.width, self.channels]
    }

    /// Decodes the image to `height × width × channels` normalized floats.
    ///
    /// The image is decoded to 8-bit (16-bit scaled down). Three channels take RGB (alpha
    /// dropped, gray replicated), four take RGBA (opaque images get alpha 255), one takes gray, made from color
    /// with PIL's `convert("L")` weights (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B, rounded) so
    /// that results match Keras/PIL pipelines. It is then resized with bilinear interpolation
    /// using half-pixel centers and no antialiasing, the same as
    /// `tf.image.resize(method="bilinear", antialias=False)` and OpenCV `INTER_LINEAR`.
    pub fn decode(&self) -> Result<SampleValues, DataError> {
        let bad = |reason: String| DataError::BadImage { path: self.path.clone(), reason };
        let mut reader = image::ImageReader::open(&self.path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|source| DataError::Unreadable { path: self.path.clone(), source })?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_alloc);
        reader.limits(limits);
        let decoded = reader.decode().map_err(|e| bad(e.to_string()))?;
        let (src_w, src_h) = (decoded.width() as usize, decoded.height() as usize);
        if src_w == 0 || src_h == 0 {
            return Err(bad("image is empty".into()));
        }
        let pixels: Vec<u8> = match self.channels {
            3 => decoded.into_rgb8().into_raw(),
            4 => decoded.into_rgba8().into_raw(),
            _ if !decoded.color().has_color() => decoded.into_luma8().into_raw(),
            _ => decoded
                .into_rgb8()
                .as_raw()
                .chunks_exact(3)
                .map(|p| {
                    ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16) as u8
                })
                .collect(),
        };
        let mut out = resize_bilinear(&pixels, src_h, src_w, self.channels, self.height, self.width);
        let c = self.channels;
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.norm.apply(*v, i % c);
        }
        Ok(SampleValues::F32(out.into()))
    }
}

/// Bilinear resize of an HWC image with half-pixel centers (`src = (dst + 0.5) * in/out - 0.5`,
/// clamped to the edge), no antialiasing. Same size is an exact copy.
pub(crate) fn resize_bilinear(src: &[u8], in_h: usize, in_w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    if in_h == out_h && in_w == out_w {
        return src.iter().map(|&v| f32::from(v)).collect();
    }
    // For each output coordinate: the two source indices and the weight of the second.
    fn taps(in_len: usize, out_len: usize) -> Vec<(usize, usize, f32)> {
        let scale = in_len as f64 / out_len as f64;
        (0..out_len)
            .map(|o| {
                let pos = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let lo = (pos.floor() as usize).min(in_len - 1);
                let hi = (lo + 1).min(in_len - 1);
                (lo, hi, (pos - lo as f64) as f32)
            })
            .collect()
    }
    let ys = taps(in_h, out_h);
    let xs = taps(in_w, out_w);
    let mut out = Vec::with_capacity(out_h * out_w * c);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            for ch in 0..c {
                let at = |y: usize, x: usize| f32::from(src[(y * in_w + x) * c + ch]);
                let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
                let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

/// A candidate's stratum, path, and size or why it was left out.
type Probed = (usize, PathBuf, Result<(usize, usize, bool), Skip>);

/// Why an image was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    Unreadable,
    Undecodable,
    Empty,
    TooLarge,
}

impl Skip {
    fn describe(self) -> String {
        match self {
            Skip::Unreadable => "unreadable".into(),
            Skip::Undecodable => "not a decodable PNG/JPEG".into(),
            Skip::Empty => "empty".into(),
            Skip::TooLarge => "too large to decode within the memory budget".into(),
        }
    }
}

/// What was chosen from the folders, for the line the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSummary {
    pub roots: Vec<PathBuf>,
    /// Images found (by extension).
    pub found: usize,
    /// Per subfolder (relative to its root, `.` for the root itself): images used, images found.
    pub folders: Vec<(String, usize, usize)>,
    /// The images looked at and left out, with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// How many chosen images were converted: grayscale ones to color channels (replicated, as
    /// PIL's `convert("RGB")` and Keras' `color_mode="rgb"` do), color ones to gray.
    pub gray_to_color: usize,
    pub color_to_gray: usize,
    /// The input's channel count.
    pub channels: usize,
    pub seed: Option<u64>,
}

impl FolderSummary {
    pub fn used(&self) -> usize {
        self.folders.iter().map(|f| f.1).sum()
    }
}

impl fmt::Display for FolderSummary {
    /// One line, of bounded length whatever the folder holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        let used_folders = self.folders.iter().filter(|x| x.1 > 0).count();
        write!(
            f,
            "{}: using {} of {} images, from {} folder{}",
            roots.join(", "),
            self.used(),
            self.found,
            used_folders,
            if used_folders == 1 { "" } else { "s" }
        )?;
        if self.folders.len() > 1 {
            let shown: Vec<String> =
                self.folders.iter().take(6).map(|(name, used, found)| format!("{name} {used}/{found}")).collect();
            let more = self.folders.len().saturating_sub(6);
            write!(f, " ({}{})", shown.join(", "), if more > 0 { format!(", … {more} more") } else { String::new() })?;
        }
        if let Some(seed) = self.seed {
            write!(f, ", sampled with seed {seed}")?;
        }
        if self.gray_to_color > 0 {
            write!(f, "; {} grayscale converted to {} channels", self.gray_to_color, self.channels)?;
        }
        if self.color_to_gray > 0 {
            write!(f, "; {} color converted to grayscale", self.color_to_gray)?;
        }
        if !self.skipped.is_empty() {
            let mut by_reason: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
            for (p, why) in &self.skipped {
                by_reason.entry(why.as_str()).or_default().push(p);
            }
            let groups: Vec<String> = by_reason
                .iter()
                .map(|(why, paths)| {
                    let names: Vec<String> = paths.iter().take(3).map(|p| p.display().to_string()).collect();
                    let more = paths.len().saturating_sub(3);
                    let more = if more > 0 { format!(", … {more} more") } else { String::new() };
                    format!("{} {why} ({}{more})", paths.len(), names.join(", "))
                })
                .collect();
            write!(f, "; skipped {}: {}", self.skipped.len(), groups.join("; "))?;
        }
        Ok(())
    }
}

/// Every image file under `root`, in byte order of their paths.
fn list(root: &Path) -> Result<Vec<PathBuf>, DataError> {
    let unreadable = |path: &Path, source| DataError::Unreadable { path: path.to_path_buf(), source };
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))? {
            let entry = entry.map_err(|e| unreadable(&dir, e))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            let is_image = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)));
            if is_image {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// SplitMix64: a tiny, well-mixed generator, so that sampling is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias.
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }
}

/// A seed for one subfolder: the user's seed mixed with the folder's name (FNV-1a).
fn stratum_seed(seed: u64, name: &str) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64 ^ seed;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    h
}

/// How many of `sizes` each stratum gives to a sample of `n` (n < the total): its share,
/// rounded down, and one more for the largest remainders (earlier strata first on ties).
fn quotas(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let mut q: Vec<usize> = sizes.iter().map(|&s| (s as u128 * n as u128 / total as u128) as usize).collect();
    let mut left = n - q.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i] as u128 * n as u128 % total as u128));
    for i in order {
        if left == 0 {
            break;
        }
        if q[i] < sizes[i] {
            q[i] += 1;
            left -= 1;
        }
    }
    q
}

/// Reads an image's header: its size and whether it has color, or why it cannot be used.
fn probe(path: &Path, max_alloc: u64) -> Result<(usize, usize, bool), Skip> {
    use image::ImageDecoder;
    let meta = fs::metadata(path).map_err(|_| Skip::Unreadable)?;
    if !meta.is_file() {
        return Err(Skip::Unreadable);
    }
    let reader = image::ImageReader::open(path).and_then(|r| r.with_guessed_format()).map_err(|_| Skip::Unreadable)?;
    let decoder = reader.into_decoder().map_err(|_| Skip::Undecodable)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Skip::Empty);
    }
    // Decoded at 8 or 16 bits, then converted: about three copies at most.
    if decoder.total_bytes().saturating_mul(3) > max_alloc {
        return Err(Skip::TooLarge);
    }
    Ok((h as usize, w as usize, decoder.color_type().has_color()))
}

pub(crate) fn human(bytes: u128) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else if bytes < 1 << 20 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.0} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

/// The images of `roots` chosen for `spec` (at most `max`), as decode jobs, and what was done.
pub(crate) fn choose(
    roots: &[&Path],
    spec: &InputSpec,
    max: Option<usize>,
    options: &ImageOptions,
) -> Result<(Vec<Arc<ImageJob>>, FolderSummary), DataError> {
    let first = roots[0];
    // Open height or width (None): each image keeps its own.
    let (height, width, channels) = match (spec.dtype, spec.shape.as_slice()) {
        (SampleType::F32, &[Some(1) | None, h, w, Some(c)])
            if matches!(c, 1 | 3 | 4) && h != Some(0) && w != Some(0) =>
        {
            (h, w, c)
        }
        _ => {
            return Err(DataError::NotImageInput {
                path: first.to_path_buf(),
                input: spec.name.clone(),
                shape: Dims(spec.shape.clone()),
                dtype: spec.dtype,
            })
        }
    };
    let norm = Arc::new(Norm::new(options, channels)?);
    // One decoded sample per worker at a time: its floats, and the decoder's buffers.
    let workers = rayon::current_num_threads().max(1) as u128;
    let budget = u128::from(options.max_bytes);
    if let (Some(h), Some(w)) = (height, width) {
        let need = (h as u128) * (w as u128) * (channels as u128) * 4;
        if need * workers > budget {
            return Err(DataError::OverBudget {
                what: format!("{}: input \"{}\" {}", first.display(), spec.name, Dims(spec.shape.clone())),
                need: format!("{} per decoded image × {workers} workers", human(need)),
                budget: human(budget),
            });
        }
    }
    let per_worker = u64::try_from(budget / workers).unwrap_or(u64::MAX);

    // Strata: (root, subfolder) → files, in order.
    let mut strata: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for root in roots {
        let files = list(root)?;
        let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for f in files {
            let rel = f.parent().and_then(|p| p.strip_prefix(root).ok()).map(|p| p.display().to_string());
            let rel = match rel.as_deref() {
                None | Some("") => ".".to_string(),
                Some(r) => r.to_string(),
            };
            let name = if roots.len() > 1 { format!("{}/{rel}", root.display()) } else { rel };
            groups.entry(name).or_default().push(f);
        }
        strata.extend(groups);
    }
    let found: usize = strata.iter().map(|s| s.1.len()).sum();
    if found == 0 {
        return Err(DataError::EmptyFolder { path: first.to_path_buf() });
    }
    let sampling = max.is_some_and(|m| m < found);
    let sizes: Vec<usize> = strata.iter().map(|s| s.1.len()).collect();
    let mut want = match max {
        Some(m) if m < found => quotas(&sizes, m),
        _ => sizes.clone(),
    };

    let mut chosen: Vec<Vec<(PathBuf, usize, usize)>> = vec![Vec::new(); strata.len()];
    let mut skipped: Vec<(PathBuf, String)> = Vec::new();
    let (mut gray_to_color, mut color_to_gray) = (0, 0);
    // Candidates in seeded order per stratum; probed in parallel rounds until each stratum has
    // its quota, a skipped image being replaced by the next candidate. Strata that run out
    // leave their shortfall to the others, in order.
    let mut order: Vec<std::collections::VecDeque<PathBuf>> = strata
        .iter()
        .map(|(name, files)| {
            let mut files = files.clone();
            if sampling {
                let mut rng = Rng(stratum_seed(options.seed, name));
                for i in (1..files.len()).rev() {
                    files.swap(i, rng.below(i + 1));
                }
            }
            files.into()
        })
        .collect();
    loop {
        let batch: Vec<(usize, PathBuf)> = (0..strata.len())
            .flat_map(|s| {
                let n = want[s].saturating_sub(chosen[s].len()).min(order[s].len());
                order[s].drain(..n).map(move |p| (s, p)).collect::<Vec<_>>()
            })
            .collect();
        if batch.is_empty() {
            // Shortfall: strata that are out of candidates hand their missing images on.
            let short: usize = (0..strata.len()).map(|s| want[s].saturating_sub(chosen[s].len())).sum();
            if short == 0 {
                break;
            }
            let mut moved = false;
            for s in 0..strata.len() {
                want[s] = chosen[s].len();
            }
            let mut left = short;
            for s in 0..strata.len() {
                if left > 0 && !order[s].is_empty() {
                    let n = left.min(order[s].len());
                    want[s] += n;
                    left -= n;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
            continue;
        }
        let probed: Vec<Probed> = batch
            .into_par_iter()
            .map(|(s, p)| {
                let r = probe(&p, per_worker);
                (s, p, r)
            })
            .collect();
        for (s, p, r) in probed {
            match r {
                Ok((h, w, color)) => {
                    gray_to_color += usize::from(!color && channels > 1);
                    color_to_gray += usize::from(color && channels == 1);
                    chosen[s].push((p, height.unwrap_or(h), width.unwrap_or(w)));
                }
                Err(why) => skipped.push((p, why.describe())),
            }
        }
    }
    for c in &mut chosen {
        c.sort();
    }
    skipped.sort();
    let summary = FolderSummary {
        roots: roots.iter().map(|r| r.to_path_buf()).collect(),
        found,
        folders: strata.iter().zip(&chosen).map(|((name, files), c)| (name.clone(), c.len(), files.len())).collect(),
        skipped,
        gray_to_color,
        color_to_gray,
        channels,
        seed: sampling.then_some(options.seed),
    };
    let jobs: Vec<Arc<ImageJob>> = chosen
        .into_iter()
        .flatten()
        .map(|(path, height, width)| {
            Arc::new(ImageJob { path, height, width, channels, norm: norm.clone(), max_alloc: per_worker })
        })
        .collect();
    if let Some((h, w)) = jobs.iter().map(|j| (j.height, j.width)).max_by_key(|&(h, w)| h as u128 * w as u128) {
        let need = (h as u128) * (w as u128) * (channels as u128) * 4;
        if need * workers > budget {
            return Err(DataError::OverBudget {
                what: format!("{}: input \"{}\" at the images' own size {h}×{w}", first.display(), spec.name),
                need: format!("{} per decoded image × {workers} workers", human(need)),
                budget: human(budget),
            });
        }
    }
    if jobs.is_empty() {
        return Err(DataError::NoUsableImages { line: summary.to_string() });
    }
    Ok((jobs, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_same_size_is_identity_and_upscale_matches_half_pixel() {
        let src = [0u8, 10, 20, 30];
        assert_eq!(resize_bilinear(&src, 2, 2, 1, 2, 2), vec![0.0, 10.0, 20.0, 30.0]);
        // 1x2 → 1x4: positions -0.25 (clamped 0), 0.25, 0.75, 1.25 (→ edge).
        let out = resize_bilinear(&[0, 100], 1, 2, 1, 1, 4);
        assert_eq!(out, vec![0.0, 25.0, 75.0, 100.0]);
        // 4 → 2 averages neighbour pairs (no antialiasing beyond that).
        let out = resize_bilinear(&[0, 10, 20, 30], 1, 4, 1, 1, 2);
        assert_eq!(out, vec![5.0, 25.0]);
    }

    #[test]
    fn quotas_are_proportional_and_exact() {
        assert_eq!(quotas(&[20, 20, 20], 30), vec![10, 10, 10]);
        assert_eq!(quotas(&[10, 20, 30], 6), vec![1, 2, 3]);
        let q = quotas(&[7, 5, 1], 4);
        assert_eq!(q.iter().sum::<usize>(), 4);
        assert!(q.iter().zip([7, 5, 1]).all(|(&a, b)| a <= b));
        assert_eq!(quotas(&[3, 3], 1), vec![1, 0]);
    }

    #[test]
    fn rng_is_fixed() {
        let mut r = Rng(0);
        // SplitMix64's published first output for seed 0.
        assert_eq!(r.next(), 0xE220_A839_7B1D_CDAF);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn input_range_parses() {
        assert_eq!(InputRange::parse("0,1"), Ok(InputRange::Unit));
        assert_eq!(InputRange::parse("-1, 1"), Ok(InputRange::Signed));
        assert_eq!(InputRange::parse("0.0,255.0"), Ok(InputRange::Byte));
        assert!(InputRange::parse("0,2").is_err());
        assert!(InputRange::parse("nan").is_err());
    }
}
