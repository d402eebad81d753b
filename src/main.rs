//! The `tflq` command line: argument parsing, messages and exit codes only.
//! Exit codes: 0 success, 1 error (one `error: …` line on stderr), 2 bad usage, 3 `compare --min-sqnr` not reached.

#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tflq::calibrate::data::{open_samples, ImageOptions, InputRange};
use tflq::graphdef::ImportOptions;
use tflq::pipeline::{self, quantize_calibrated_timed};
use tflq::quantize::full_integer::{Activations, IntegerOptions, IoType};
use tflq::quantize::{quantize_weights, Report, WeightMode, WeightOptions};
use tflq::tflite::{Layout, WriteOptions};

mod progress;

/// How long each stage of `convert` took, for `--verbose`.
type Stages = Vec<(&'static str, std::time::Duration)>;

#[derive(Parser)]
#[command(
    name = "tflq",
    version,
    about = "Quantize TensorFlow models into TFLite flatbuffers, with no Python or TensorFlow"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The largest single tensor or buffer a model or data file may make tflq allocate, e.g.
    /// 8G or 512M (default: a quarter of RAM, kept between 1 and 4 GiB).
    #[arg(long, global = true, value_name = "SIZE", value_parser = tflq::budget::parse_size)]
    max_memory: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Read a model and write it as .tflite, optionally quantized.
    Convert(Box<ConvertArgs>),
    /// Run a model on every sample and write its outputs (.npz keyed by output name, sample axis first).
    Run(RunArgs),
    /// Run a float model and a quantized version of it on the same samples and report the error.
    Compare(CompareArgs),
    /// Show a model's tensors, operators, quantization and metadata.
    Dump {
        /// The .tflite model to show.
        model: PathBuf,
        /// Print JSON with stable keys instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The .tflite model to run.
    model: PathBuf,
    /// Samples (repeatable): a .npy (first axis = samples; one per input, in input order), a .npz (one
    /// array per input name) or a folder of PNG/JPEG images.
    #[arg(long, value_name = "PATH", required = true)]
    input: Vec<PathBuf>,
    /// Write the outputs to this .npz: one array per output tensor name, sample axis first, float32
    /// (quantized integer outputs dequantized with their scale and zero point).
    #[arg(short, long, value_name = "OUT.npz")]
    output: Option<PathBuf>,
    /// Print a JSON summary instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    norm: NormArgs,
    /// Run on at most N threads (samples run in parallel; default: one per core). `--threads 1`
    /// runs one sample after another on one core, as a single-threaded interpreter would.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The float .tflite model (the reference).
    float: PathBuf,
    /// The quantized .tflite model made from it.
    quant: PathBuf,
    /// Samples (repeatable), in the formats of `run --input`, shaped for FLOAT's inputs (float data
    /// for QUANT's integer inputs is quantized with their scale and zero point).
    #[arg(long, value_name = "PATH", required = true)]
    data: Vec<PathBuf>,
    /// Print JSON with stable keys instead of a table.
    #[arg(long)]
    json: bool,
    /// Show the N tensors with the largest error (all with --json when not given).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Also write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Report only this tensor (QUANT's name or the FLOAT name it stands for; repeatable).
    #[arg(long, value_name = "NAME")]
    tensor: Vec<String>,
    /// Exit with status 3 when the worst output SQNR is below DB.
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    min_sqnr: Option<f64>,
    #[command(flatten)]
    norm: NormArgs,
}

#[derive(clap::Args)]
struct ConvertArgs {
    /// Input model: a .tflite flatbuffer or a frozen GraphDef .pb (told apart by content, not
    /// extension), or a SavedModel directory.
    input: PathBuf,
    /// Output .tflite path. Written to a temporary file, then renamed.
    #[arg(short, long)]
    output: PathBuf,
    /// SavedModel: the signature to convert.
    #[arg(long, value_name = "KEY", default_value = "serving_default")]
    signature_key: String,
    /// SavedModel: the tags of the MetaGraph to load, comma-separated (matched as a set).
    #[arg(long, value_name = "TAGS", value_delimiter = ',', default_value = "serve")]
    saved_model_tags: Vec<String>,
    /// Quantization mode.
    #[arg(long, value_enum, default_value_t = Mode::None)]
    quantize: Mode,
    /// Weights with fewer elements stay float (dynamic, weight-int8).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    min_weight_elements: usize,
    /// Per-tensor weight scales instead of per-channel.
    #[arg(long)]
    per_tensor: bool,
    /// Calibration samples for int8/int16x8 (repeatable): a .npy (first axis = samples), a .npz (one array per
    /// input name) or a folder of PNG/JPEG images.
    #[arg(long, value_name = "PATH")]
    calibration_data: Vec<PathBuf>,
    /// Use at most N calibration samples: from image folders a seeded sample stratified by
    /// subfolder (--seed), from arrays the first N.
    #[arg(long, value_name = "N")]
    calibration_samples: Option<usize>,
    /// Image folders: the seed of the sample drawn (per subfolder) when --calibration-samples is
    /// smaller than the folder.
    #[arg(long, value_name = "N", default_value_t = tflq::calibrate::data::DEFAULT_SEED)]
    seed: u64,
    #[command(flatten)]
    norm: NormArgs,
    /// Print nothing but warnings and errors (no progress, notes or summary line).
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print how long each stage took (read, data, fold, calibrate, quantize, write).
    #[arg(long, short)]
    verbose: bool,
    /// Full-integer modes: the model input type.
    #[arg(long, value_enum, default_value_t = Io::Float32)]
    input_type: Io,
    /// Full-integer modes: the model output type.
    #[arg(long, value_enum, default_value_t = Io::Float32)]
    output_type: Io,
    /// Full-integer modes: fail instead of leaving an op without an integer kernel in float (ops that
    /// TF's integer-only conversion keeps float too, such as NEG, are allowed and reported).
    #[arg(long)]
    strict: bool,
    /// --quantize int8: activations inside WHILE loop bodies (recurrent layers). int16 keeps
    /// errors from compounding over the iterations; int8 for hardware without int16 kernels.
    #[arg(long, value_enum, default_value_t = LoopActivations::Int16)]
    loop_activations: LoopActivations,
    /// Full-integer modes: how activation ranges are chosen from calibration. minmax: the global
    /// min/max, TF's rule (the default for now; an automatic per-tensor choice is planned);
    /// percentile: clip each tail at --percentile (|x| for int16); mse: the range minimising the
    /// expected rounding plus clipping error. Weights keep their own min/max per channel.
    #[arg(long, value_enum)]
    calibration_method: Option<CalibrationMethod>,
    /// --calibration-method percentile: the percentile P, in (50, 100] (default 99.99).
    #[arg(long, value_name = "P")]
    percentile: Option<f64>,
    /// Write a JSON report: what was quantized, what was skipped and why, sizes, time.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Frozen graphs: input node names, comma-separated (default: the Placeholders).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    input_arrays: Option<Vec<String>>,
    /// Frozen graphs: output node names, comma-separated (default: the graph's sinks).
    #[arg(long, value_name = "C", value_delimiter = ',')]
    output_arrays: Option<Vec<String>>,
    /// One shape per input, e.g. 1,224,224,3:1,10. Frozen graphs: the input shapes. .tflite:
    /// the calibration shapes of inputs with open (-1) dimensions; the model keeps its signature.
    #[arg(long, value_name = "SHAPES", value_delimiter = ':', value_parser = parse_shape)]
    input_shapes: Option<Vec<Vec<i64>>>,
    /// Where buffer data goes: inside the flatbuffer, or after it (offset/size, for models over 2 GB).
    #[arg(long, value_enum, default_value_t = BufferLayout::Auto, hide = true)]
    buffer_layout: BufferLayout,
}

/// How image folders become float inputs: 8-bit values are mapped to --input-range, then
/// (v - mean) / std per channel.
#[derive(clap::Args)]
struct NormArgs {
    /// Image folders: the range 8-bit values are scaled to before --mean/--std: 0,1 (x/255, the
    /// default), -1,1 (x/127.5 - 1) or 0,255 (as they are).
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true, value_parser = InputRange::parse)]
    input_range: Option<InputRange>,
    /// Image folders: per-channel mean to subtract, in the units of --input-range (e.g.
    /// 0.485,0.456,0.406 for 0,1; 127.5 for 0,255).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    mean: Option<Vec<f32>>,
    /// Image folders: per-channel standard deviation to divide by, in the units of --input-range
    /// (e.g. 0.229,0.224,0.225 for 0,1; 127.5 for 0,255).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    std: Option<Vec<f32>>,
}

impl NormArgs {
    fn options(&self) -> ImageOptions {
        ImageOptions { mean: self.mean.clone(), std: self.std.clone(), range: self.input_range, ..Default::default() }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Re-serialize without changing the model.
    None,
    /// Int8 weights, float activations (TF's Optimize.DEFAULT without data).
    Dynamic,
    /// Float16 constants behind DEQUANTIZE.
    Float16,
    /// Int8 weights behind explicit DEQUANTIZE ops, float compute.
    WeightInt8,
    /// Full-integer int8, calibrated on data.
    Int8,
    /// Int16 activations, int8 weights, calibrated on data.
    Int16x8,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Io {
    Float32,
    Int8,
    Uint8,
    Int16,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CalibrationMethod {
    /// Global min and max (TF's rule).
    Minmax,
    /// Clip at the --percentile P.
    Percentile,
    /// Minimise the expected quantization error.
    Mse,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoopActivations {
    Int8,
    Int16,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BufferLayout {
    Auto,
    Inline,
    Outside,
}

/// glibc hands large freed blocks back to the kernel (munmap, heap trimming) and faults fresh
/// pages in for the next one. While the calibration threads run, each unmap also costs
/// TLB-shootdown interrupts on the other cores: about 30% of the interpreter's time on a
/// 2-vCPU VM. For calibration and for GraphDef import (whose folding and layout changes
/// allocate and free weight-sized buffers: frozen ResNet50 0.33 -> 0.27 s, peak RSS 1.31x ->
/// 1.54x the .pb) freed memory stays in the heap, to be reused. The weight-only modes on a
/// .tflite keep glibc's defaults, which give them a lower peak RSS at the same speed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters (glibc serializes it with allocation).
    unsafe {
        // 32 MiB is glibc's largest allowed mmap threshold on 64-bit targets.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// How a command that did not fail ended.
enum Status {
    Done,
    /// `compare --min-sqnr` was not reached.
    BelowMinSqnr,
}

/// On SIGINT or SIGTERM: remove staged outputs, then exit as the signal would (128 + n).
fn remove_staged_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tflq::tflite::staged::remove_all_staged();
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(bytes) = cli.max_memory {
        tflq::budget::set_max_bytes(bytes);
    }
    remove_staged_on_signal();
    let result = match cli.command {
        Command::Convert(args) => convert(&args),
        Command::Run(args) => run(&args),
        Command::Compare(args) => compare(&args),
        Command::Dump { model, json } => dump(&model, json),
    };
    match result {
        Ok(Status::Done) => ExitCode::SUCCESS,
        Ok(Status::BelowMinSqnr) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line; a cause whose text the message already holds is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Refuses outputs that would replace an input (the model, calibration files, a file inside a
/// calibration folder or SavedModel) or each other, compared as files (through symlinks and
/// hard links), not as strings.
fn refuse_overwrite(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<()> {
    #[cfg(unix)]
    let id = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    };
    #[cfg(not(unix))]
    let id = |_: &Path| None::<(u64, u64)>;
    // A path that may not exist yet, made absolute through its parent.
    let normal = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    for &(what, out) in outputs {
        if out.is_dir() {
            bail!("{what} {} is a directory: give a file path", out.display());
        }
        // The staged write renames over the path: it would replace a device node or a FIFO.
        if let Some(kind) = tflq::ir::special_file(out) {
            bail!("{what} {} is {kind}, not a regular file: give a file path", out.display());
        }
        let Some(o) = normal(out) else { continue };
        for &inp in inputs {
            let Ok(i) = inp.canonicalize() else { continue };
            let clash = i == o
                || (i.is_dir() && o.starts_with(&i) && out.exists())
                || (id(out).is_some() && id(out) == id(inp));
            if clash {
                bail!(
                    "{what} {} is an input ({}): tflq never modifies its inputs, choose another path",
                    out.display(),
                    inp.display()
                );
            }
        }
    }
    for (k, &(a, pa)) in outputs.iter().enumerate() {
        for &(b, pb) in &outputs[k + 1..] {
            if normal(pa).is_some() && normal(pa) == normal(pb) {
                bail!("{a} and {b} are the same file {}: give them different paths", pa.display());
            }
        }
    }
    Ok(())
}

/// The input's size: a file's length, or a SavedModel's graph and variables.
fn input_bytes(path: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if !path.is_dir() {
        return len(path);
    }
    let vars = std::fs::read_dir(path.join("variables"))
        .map(|d| d.flatten().map(|e| len(&e.path())).sum::<u64>())
        .unwrap_or(0);
    len(&path.join("saved_model.pb")) + vars
}

/// A model for dump, run and compare: a `.tflite`, or a SavedModel directory converted on the fly.
fn load(path: &Path) -> Result<tflq::Model> {
    if path.is_dir() {
        let saved = tflq::savedmodel::SavedModelOptions::default();
        let (model, warnings) =
            pipeline::load(path, &ImportOptions::default(), &saved).with_context(|| format!("{}", path.display()))?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        return Ok(model);
    }
    tflq::load(path).with_context(|| format!("{}", path.display()))
}

fn io_type(io: Io) -> IoType {
    match io {
        Io::Float32 => IoType::Float32,
        Io::Int8 => IoType::Int8,
        Io::Uint8 => IoType::Uint8,
        Io::Int16 => IoType::Int16,
    }
}

/// Loads the calibration samples, calibrates with progress output, and quantizes.
fn full_integer_quantize(model: &mut tflq::Model, args: &ConvertArgs, stages: &mut Stages) -> Result<Report> {
    let name = if args.quantize == Mode::Int8 { "int8" } else { "int16x8" };
    if args.calibration_data.is_empty() {
        bail!("--quantize {name} needs --calibration-data: a .npy, a .npz or a folder of images");
    }
    keep_freed_memory();
    // A frozen graph's importer already applied --input-shapes.
    let shapes = if starts_with_tflite_identifier(&args.input) { args.input_shapes.as_deref() } else { None };
    let specs = tflq::calibrate::input_specs(model, shapes)?;
    let image = ImageOptions { seed: args.seed, ..args.norm.options() };
    let t = Instant::now();
    let samples = open_samples(&args.calibration_data, &specs, args.calibration_samples, &image)?;
    stages.push(("data", t.elapsed()));
    if !args.quiet {
        for note in samples.notes() {
            eprintln!("note: {note}");
        }
    }
    let opts = IntegerOptions {
        activations: if args.quantize == Mode::Int8 { Activations::Int8 } else { Activations::Int16 },
        input_type: io_type(args.input_type),
        output_type: io_type(args.output_type),
        per_tensor: args.per_tensor,
        strict: args.strict,
        loop_activations: match (args.quantize, args.loop_activations) {
            (Mode::Int8, LoopActivations::Int16) => Some(Activations::Int16),
            _ => None,
        },
    };
    let method = calibration_method(args)?;
    let mut times = pipeline::Stages::default();
    let report = progress::with_progress("calibrating", samples.len(), args.quiet, |progress| {
        quantize_calibrated_timed(model, &samples, &opts, method, progress, &mut times)
    })?;
    stages.extend([("fold", times.fold), ("calibrate", times.calibrate), ("quantize", times.quantize)]);
    Ok(report)
}

/// `--calibration-method` and `--percentile` as a method (checked before any work is done).
fn calibration_method(args: &ConvertArgs) -> Result<tflq::calibrate::Method> {
    use tflq::calibrate::Method;
    let method = args.calibration_method.unwrap_or(CalibrationMethod::Minmax);
    if args.percentile.is_some() && method != CalibrationMethod::Percentile {
        bail!("--percentile is only used by --calibration-method percentile");
    }
    Ok(match method {
        CalibrationMethod::Minmax => Method::MinMax,
        CalibrationMethod::Mse => Method::Mse,
        CalibrationMethod::Percentile => {
            let p = args.percentile.unwrap_or(99.99);
            if !(p > 50.0 && p <= 100.0) {
                bail!("--percentile {p}: must be above 50 and at most 100");
            }
            Method::Percentile(p)
        }
    })
}

/// One shape of `--input-shapes`: `1,224,224,3` → [1,224,224,3]; empty for a scalar.
fn parse_shape(shape: &str) -> Result<Vec<i64>, String> {
    if shape.is_empty() {
        return Ok(Vec::new());
    }
    shape.split(',').map(|d| d.trim().parse::<i64>().map_err(|_| format!("bad dimension {d:?} in {shape:?}"))).collect()
}

/// Whether the file carries the `TFL3` identifier (unreadable files say no; loading reports them).
fn starts_with_tflite_identifier(path: &Path) -> bool {
    use std::io::Read;
    if path.is_dir() || tflq::ir::special_file(path).is_some() {
        return false;
    }
    let mut head = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
        && pipeline::has_tflite_identifier(&head)
}

fn convert(args: &ConvertArgs) -> Result<Status> {
    let start = Instant::now();
    let mut outputs = vec![("the output", args.output.as_path())];
    if let Some(r) = &args.report {
        outputs.push(("the report", r.as_path()));
    }
    let inputs: Vec<&Path> =
        std::iter::once(args.input.as_path()).chain(args.calibration_data.iter().map(PathBuf::as_path)).collect();
    refuse_overwrite(&outputs, &inputs)?;
    let graph = ImportOptions {
        input_arrays: args.input_arrays.clone(),
        output_arrays: args.output_arrays.clone(),
        input_shapes: args.input_shapes.clone(),
    };
    let saved = tflq::savedmodel::SavedModelOptions {
        tags: args.saved_model_tags.clone(),
        signature: args.signature_key.clone(),
        ..Default::default()
    };
    let full_integer = matches!(args.quantize, Mode::Int8 | Mode::Int16x8);
    let tflite_input = starts_with_tflite_identifier(&args.input);
    if tflite_input && (args.input_arrays.is_some() || args.output_arrays.is_some()) {
        bail!("--input-arrays/--output-arrays choose a frozen graph's inputs and outputs; a .tflite keeps its own");
    }
    if tflite_input && args.input_shapes.is_some() && !full_integer {
        bail!("--input-shapes on a .tflite sets the calibration shapes, used by --quantize int8 and int16x8 only");
    }
    if !full_integer && (args.calibration_method.is_some() || args.percentile.is_some()) {
        bail!("--calibration-method and --percentile apply to --quantize int8 and int16x8 only");
    }
    if full_integer {
        calibration_method(args)?;
    }
    if !tflite_input {
        keep_freed_memory();
    }
    let mut stages = Stages::new();
    let t = Instant::now();
    let (mut model, warnings) =
        pipeline::load(&args.input, &graph, &saved).with_context(|| args.input.display().to_string())?;
    stages.push(("read", t.elapsed()));
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if !full_integer && !args.calibration_data.is_empty() {
        bail!("--calibration-data is only used by --quantize int8 and int16x8");
    }
    if !full_integer && (args.input_type != Io::Float32 || args.output_type != Io::Float32) {
        bail!("--input-type/--output-type apply to --quantize int8 and int16x8 only");
    }
    let opts = WeightOptions { min_weight_elements: args.min_weight_elements, per_tensor: args.per_tensor };
    let t = Instant::now();
    let report = match args.quantize {
        Mode::None => None,
        Mode::Dynamic => Some(quantize_weights(&mut model, WeightMode::Dynamic, &opts).map_err(anyhow::Error::from)),
        Mode::Float16 => Some(quantize_weights(&mut model, WeightMode::Float16, &opts).map_err(anyhow::Error::from)),
        Mode::WeightInt8 => {
            Some(quantize_weights(&mut model, WeightMode::WeightInt8, &opts).map_err(anyhow::Error::from))
        }
        Mode::Int8 | Mode::Int16x8 => Some(full_integer_quantize(&mut model, args, &mut stages)),
    };
    if !full_integer && args.quantize != Mode::None {
        stages.push(("quantize", t.elapsed()));
    }
    let report = match report {
        Some(r) => Some(r.with_context(|| args.input.display().to_string())?),
        None => None,
    };
    for (index, op, tensors) in report.iter().flat_map(|r| &r.uncalibrated) {
        let plural = if *tensors == 1 { "tensor" } else { "tensors" };
        eprintln!(
            "warning: {op} (operator {index}) has no kernel in tflq's interpreter: it and the {tensors} {plural} \
             computed from it were not calibrated and stay float"
        );
    }
    for (si, act, why) in report.iter().flat_map(|r| &r.subgraph_activations) {
        eprintln!("note: subgraph {si} ({why}) computes with {act} activations (--loop-activations)");
    }
    let layout = match args.buffer_layout {
        BufferLayout::Auto => Layout::Auto,
        BufferLayout::Inline => Layout::Inline,
        BufferLayout::Outside => Layout::Outside,
    };
    // Every output is staged, and all are renamed into place only once all were written.
    let t = Instant::now();
    let staged = tflq::tflite::save_staged(&model, &args.output, &WriteOptions { layout })?;
    let seconds = start.elapsed().as_secs_f64();
    let in_bytes = input_bytes(&args.input);
    let out_bytes = std::fs::metadata(staged.temp_path()).map(|m| m.len()).unwrap_or(0);
    let summary = report.as_ref().map_or(String::new(), |r| r.summary() + "; ");
    let mut report_staged = None;
    if let Some(path) = &args.report {
        let r = report.unwrap_or_else(|| Report::new("none"));
        let mut text = serde_json::to_string_pretty(&r.to_json(in_bytes, out_bytes, seconds))?;
        text.push('\n');
        let write = || -> std::io::Result<tflq::tflite::Staged> {
            let (st, mut f) = tflq::tflite::Staged::create(path)?;
            f.write_all(text.as_bytes())?;
            Ok(st)
        };
        report_staged = Some(write().with_context(|| format!("cannot write the report {}", path.display()))?);
    }
    staged.commit().with_context(|| format!("cannot write {}", args.output.display()))?;
    if let Some(st) = report_staged {
        let path = st.dest().to_path_buf();
        st.commit().with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    stages.push(("write", t.elapsed()));
    if args.verbose {
        let parts: Vec<String> =
            stages.iter().map(|(name, d)| format!("{name} {:.1} ms", d.as_secs_f64() * 1e3)).collect();
        eprintln!("stages: {}", parts.join(", "));
    }
    if args.quiet {
        return Ok(Status::Done);
    }
    eprintln!(
        "wrote {}: {summary}{in_bytes} -> {out_bytes} bytes ({:.3}x) in {:.0} ms",
        args.output.display(),
        out_bytes as f64 / in_bytes.max(1) as f64,
        seconds * 1e3
    );
    Ok(Status::Done)
}

fn dump(path: &Path, json: bool) -> Result<Status> {
    let model = load(path)?;
    let file_bytes = std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len());
    let text = if json {
        let mut s = serde_json::to_string_pretty(&tflq::dump::to_json(&model, file_bytes))?;
        s.push('\n');
        s
    } else {
        tflq::dump::to_text(&model, file_bytes)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (e.g. `| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Status::Done),
        r => r.context("writing to stdout").map(|()| Status::Done),
    }
}

/// Writes `text` to stdout (a closed pipe is not an error).
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

/// A number for the tables: about 5 significant digits.
fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !(1e-4..1e6).contains(&x.abs()) {
        return format!("{x:.4e}");
    }
    let digits = (4 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn db(x: Option<f64>) -> String {
    x.map_or("inf".to_string(), |x| format!("{x:.2}"))
}

fn run(args: &RunArgs) -> Result<Status> {
    if let Some(out) = &args.output {
        let inputs: Vec<&Path> = std::iter::once(&args.model).chain(&args.input).map(PathBuf::as_path).collect();
        refuse_overwrite(&[("the output", out)], &inputs)?;
    }
    let model = load(&args.model)?;
    let samples = pipeline::exec::open(&model, &args.input, &args.norm.options())?;
    for note in samples.notes() {
        eprintln!("note: {note}");
    }
    let run = || pipeline::run::run(&model, &samples).with_context(|| args.model.display().to_string());
    let outputs = match args.threads {
        None => run(),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build()
            .context("cannot start the interpreter's threads")?
            .install(run),
    }?;
    if let Some(path) = &args.output {
        let arrays: Vec<_> = outputs.iter().map(|o| o.to_npy()).collect();
        pipeline::exec::write_npz(path, &arrays)?;
    }
    let text = if args.json {
        let outs: Vec<serde_json::Value> = outputs
            .iter()
            .map(|o| {
                let (min, max, mean) = o.stats().map_or((None, None, None), |(a, b, c)| (Some(a), Some(b), Some(c)));
                serde_json::json!({"name": o.name, "shape": o.shape, "dtype": o.dtype(), "min": min, "max": max,
                    "mean": mean, "dequantized": o.dequantized.map(|(s, z)| serde_json::json!({"scale": s, "zero_point": z}))})
            })
            .collect();
        let j = serde_json::json!({"outputs": outs, "samples": samples.len(),
            "written": args.output.as_ref().map(|p| p.display().to_string())});
        serde_json::to_string_pretty(&j)? + "\n"
    } else {
        let mut t = format!("ran {} sample(s) through {}\n", samples.len(), args.model.display());
        for o in &outputs {
            let shape = o.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
            let stats = o.stats().map_or("no values".to_string(), |(a, b, c)| {
                format!("min {}  max {}  mean {}", num(a), num(b), num(c))
            });
            let deq =
                o.dequantized.map_or(String::new(), |(s, z)| format!("  (dequantized: scale {s}, zero point {z})"));
            t += &format!("  {}  {} [{shape}]  {stats}{deq}\n", o.name, o.dtype());
        }
        if let Some(p) = &args.output {
            t += &format!("wrote {}\n", p.display());
        }
        t
    };
    print(&text)?;
    Ok(Status::Done)
}

fn compare(args: &CompareArgs) -> Result<Status> {
    if let Some(out) = &args.html {
        let inputs: Vec<&Path> =
            [&args.float, &args.quant].into_iter().chain(&args.data).map(PathBuf::as_path).collect();
        refuse_overwrite(&[("the report", out)], &inputs)?;
    }
    let float = load(&args.float)?;
    let quant = load(&args.quant)?;
    let samples = pipeline::exec::open(&float, &args.data, &args.norm.options())?;
    for note in samples.notes() {
        eprintln!("note: {note}");
    }
    let mut c = pipeline::compare::compare(&float, &quant, &samples)?;
    if !args.tensor.is_empty() {
        for name in &args.tensor {
            if !c.tensors.iter().any(|t| &t.name == name || &t.float_name == name) {
                bail!("--tensor {name:?}: no such tensor among the {} compared (see compare --json)", c.tensors.len());
            }
        }
        c.tensors.retain(|t| args.tensor.iter().any(|n| n == &t.name || n == &t.float_name));
    }
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(path) = &args.html {
        let title = format!("{} vs {}", args.quant.display(), args.float.display());
        pipeline::exec::write_file(path, c.to_html(&title).as_bytes())?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&c.to_json(args.top))? + "\n"
    } else {
        let mut t = format!(
            "compared {} sample(s): {} vs {}\noutputs:\n",
            c.samples,
            args.quant.display(),
            args.float.display()
        );
        for o in &c.outputs {
            let top1 = o.top1_agreement.map_or(String::new(), |a| format!("  top-1 agreement {:.1}%", a * 100.0));
            t += &format!(
                "  {}  SQNR {} dB  cosine {:.6}  max |err| {}  mean |err| {}{top1}\n",
                o.name,
                db(o.sqnr_db),
                o.cosine,
                num(o.max_abs_error),
                num(o.mean_abs_error)
            );
        }
        let n = args.top.unwrap_or(10).min(c.tensors.len());
        t += &format!(
            "tensors (the {n} of {} with the largest own error; layer = the op alone on the float model's inputs, added = its share of the accumulated error, SQNR = accumulated; named as in the float model):\n",
            c.tensors.len()
        );
        t += "  layer dB  added dB  SQNR dB  clipped  op                name\n";
        for x in c.tensors.iter().take(n) {
            let clipped = x.clipped_fraction.map_or("-".to_string(), |f| format!("{:.2}%", f * 100.0));
            t += &format!(
                "  {:>8}  {:>8}  {:>7}  {clipped:>7}  {:<16}  {}\n",
                x.layer_sqnr_db.map_or("-".to_string(), |a| db(Some(a).filter(|a| a.is_finite()))),
                x.added_sqnr_db.map_or("-".to_string(), |a| format!("{a:.2}")),
                db(x.sqnr_db),
                x.op,
                x.float_name
            );
        }
        if c.float_ops.is_empty() {
            t += "float ops: none\n";
        } else {
            t += "float ops:\n";
            for f in &c.float_ops {
                t += &format!("  {} (operator {}): {}\n", f.op, f.index, f.reason);
            }
        }
        t
    };
    print(&text)?;
    if let (Some(min), Some(worst)) = (args.min_sqnr, c.worst_output_sqnr()) {
        if worst < min {
            eprintln!("error: the worst output SQNR {worst:.2} dB is below --min-sqnr {min} dB");
            return Ok(Status::BelowMinSqnr);
        }
    }
    Ok(Status::Done)
}
