//! The op registry: everything tflq knows about an operator, in one entry per op and one file
//! per op family. An entry ([`OpDef`]) holds the float kernel (prepared once, then
//! evaluated), the roles of its constant operands, its dynamic-range and integer rules, the
//! op version a signature needs, and its fused activation. The interpreter, the weight and
//! full-integer passes, the GraphDef importer and the version checks all read it; adding an
//! op is one entry in its family's `register` and one agreement test.

pub mod arity;
pub mod binary;
mod consistency;
pub mod control;
pub mod conv;
pub mod conv3d;
pub mod detection;
pub mod generate;
mod hybrid;
pub mod index;
mod integer;
mod shapes;
pub use integer::quantize_to;
pub mod matmul;
pub mod mediapipe;
pub mod nms;
pub mod normalize;
pub mod pool;
pub mod quant;
pub mod reduce;
pub mod resize;
pub mod scatter;
pub mod sequence;
pub mod shape;
pub mod signal;
mod signature;
pub mod space;
pub mod unary;
mod util;

pub use crate::kernels::{Isa, KResult};
pub use arity::{check_model, check_options};
pub use signature::{OpSignature, TensorSig};
pub use util::{activate, axis, broadcast_shape, broadcast_strides, checked_numel, clamp_of, MAX_ELEMENTS};

use crate::ir::{Data, Operator, OperatorCode, Tensor, Value};
use crate::schema::{ActivationFunctionType, BuiltinOperator, BuiltinOptionsT};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Which operator an entry is for: a builtin code, or a custom op's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKey {
    Builtin(BuiltinOperator),
    Custom(String),
}

/// What a constant input of an op is to the quantizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Weights: symmetric int8, one scale per slice of `axis` (one per tensor when None).
    Weights { axis: Option<usize> },
    /// A bias, quantized with scale (scale of input slot `input`) × (scale of weight slot `weights`).
    Bias { input: usize, weights: usize },
    /// A lookup table (GATHER's params): int8 per tensor in the weight modes; in the
    /// full-integer modes quantized like an activation.
    Table,
}

/// The dynamic-range ("hybrid") form: int8 weights read by a kernel whose activations stay float.
#[derive(Clone, Copy)]
pub struct Hybrid {
    /// Tells the kernel to quantize its float input asymmetrically (TF sets it), when it can be told.
    pub asymmetric_inputs: Option<fn(&mut BuiltinOptionsT)>,
    /// The op then writes int8 with its table's parameters, and a DEQUANTIZE follows (GATHER).
    pub int8_output: bool,
}

/// How a full-integer op's float output gets its quantization parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputParams {
    /// From the calibrated range of the output.
    Calibrated,
    /// The same as the (quantized) input in this slot: the op only moves values.
    SameAsInput(usize),
    /// Fixed by the kernel: (scale, zero point) for int8, and for 16x8.
    Fixed { int8: (f32, i64), int16: (f32, i64) },
}

/// What the full-integer modes know about an op that has an integer kernel.
///
/// `int8` and `int16` record which integer kernels the official interpreter (LiteRT) has
/// *and* TF's converter uses (reference/tflite-kernel-facts.md §3.2): an op is only written
/// with integer activations of a width both agree on, so that every model tflq writes
/// loads, allocates and runs in LiteRT (tests/integer_kernels.rs checks each op).
#[derive(Clone, Copy)]
pub struct IntegerRule {
    /// Whether the official interpreter has an int8 kernel.
    pub int8: bool,
    /// Whether the official interpreter has an int16-activation kernel (16x8).
    pub int16: bool,
    pub output: OutputParams,
    /// All float inputs must share the output's parameters (requantized where they differ).
    pub inputs_share_output: bool,
    /// Sets the options the 16x8 kernel needs.
    pub int16_options: Option<fn(&mut BuiltinOptionsT)>,
    /// Sets the options every integer kernel needs (int8 and 16x8).
    pub options: Option<fn(&mut BuiltinOptionsT)>,
    /// The weights slot may hold an activation instead of a constant (BATCH_MATMUL's
    /// right-hand side in attention): it is then quantized like one, per tensor.
    pub variable_weights: bool,
}

impl IntegerRule {
    /// Output parameters from its own calibrated range.
    pub const fn calibrated(int16: bool) -> IntegerRule {
        IntegerRule {
            int8: true,
            int16,
            output: OutputParams::Calibrated,
            inputs_share_output: false,
            int16_options: None,
            options: None,
            variable_weights: false,
        }
    }

    /// Output parameters of input `slot` (the op only moves values); int16 kernels exist.
    pub const fn same_as_input(slot: usize) -> IntegerRule {
        IntegerRule { output: OutputParams::SameAsInput(slot), ..IntegerRule::calibrated(true) }
    }

    /// Fixed output parameters; `int16` None when there is no 16x8 kernel.
    pub const fn fixed(int8: (f32, i64), int16: Option<(f32, i64)>) -> IntegerRule {
        let (ok, i16p) = match int16 {
            Some(p) => (true, p),
            None => (false, (0.0, 0)),
        };
        IntegerRule { output: OutputParams::Fixed { int8, int16: i16p }, ..IntegerRule::calibrated(ok) }
    }

    /// Output parameters from the calibrated range, shared by every float input.
    pub const fn shared() -> IntegerRule {
        IntegerRule { inputs_share_output: true, ..IntegerRule::calibrated(true) }
    }

    /// The same rule without a 16x8 kernel (the op stays float in int16x8).
    pub const fn int8_only(self) -> IntegerRule {
        IntegerRule { int16: false, ..self }
    }
}

/// Access to the fused activation in an op's options table.
#[derive(Clone, Copy)]
pub struct FusedActivation {
    /// The activation, or None when the options are not the op's table (or absent).
    pub get: fn(&BuiltinOptionsT) -> Option<ActivationFunctionType>,
    pub set: fn(&mut BuiltinOptionsT, ActivationFunctionType),
    /// Whether TF's converter folds a following RELU, RELU6 or RELU_N1_TO_1 into this op.
    pub absorbs: Absorbs,
}

/// When TF's converter folds a following activation op into an op's fused activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absorbs {
    Never,
    Always,
    /// Only when the op has its bias input (TRANSPOSE_CONV).
    WithBias,
}

/// The fused-activation accessors of options variant `$v`.
macro_rules! fused_activation {
    ($v:ident, absorbs: $absorbs:ident) => {
        $crate::ops::FusedActivation {
            get: |o| match o {
                $crate::schema::BuiltinOptionsT::$v(x) => Some(x.fused_activation_function),
                _ => None,
            },
            set: |o, a| {
                if let $crate::schema::BuiltinOptionsT::$v(x) = o {
                    x.fused_activation_function = a;
                }
            },
            absorbs: $crate::ops::Absorbs::$absorbs,
        }
    };
}
pub(crate) use fused_activation;

/// The op's options of variant `$v`, or the defaults when the file has none.
macro_rules! opts {
    ($ctx:expr, $v:ident) => {
        match $ctx.options() {
            $crate::schema::BuiltinOptionsT::$v(o) => (**o).clone(),
            _ => Default::default(),
        }
    };
}
pub(crate) use opts;

/// A constant input as prepare sees it.
pub enum Constant<'a> {
    /// Decoded (or folded) by the interpreter.
    Value(&'a Value),
    /// Dense FLOAT32 data still in the model's buffer, not decoded.
    Raw(&'a Data),
    /// Dense INT8 data still in the model's buffer, not decoded (integer kernels pack it).
    Int8(&'a Data),
}

/// What an op's prepare sees: its operator, the subgraph's tensors, its constant inputs, and
/// the kernel variant to use.
pub struct PrepareCtx<'a> {
    pub op: &'a Operator,
    /// The version in the op's operator code (custom ops with several forms, such as
    /// MediaPipe's v1 and v2, are told apart by it).
    pub version: i32,
    pub tensors: &'a [Tensor],
    pub isa: Isa,
    pub(crate) constants: &'a (dyn Fn(usize) -> Option<Constant<'a>> + Sync),
}

impl<'a> PrepareCtx<'a> {
    pub fn options(&self) -> &'a BuiltinOptionsT {
        &self.op.builtin_options
    }

    /// A custom op's options bytes (empty when it has none).
    pub fn custom_options(&self) -> &'a [u8] {
        self.op.custom_options.as_ref().map_or(&[], |d| d.as_bytes())
    }

    /// A custom op's options as a flexbuffer map.
    pub fn flex_options(&self) -> KResult<crate::flexbuffer::Map<'a>> {
        crate::flexbuffer::root_map(self.custom_options()).map_err(|e| format!("custom options: {e}"))
    }

    fn tensor(&self, t: Option<&i32>) -> Option<&'a Tensor> {
        t.and_then(|&t| usize::try_from(t).ok()).and_then(|t| self.tensors.get(t))
    }

    /// The tensor in input slot `slot` (None when omitted).
    pub fn input(&self, slot: usize) -> Option<&'a Tensor> {
        self.tensor(self.op.inputs.get(slot))
    }

    pub fn output(&self, i: usize) -> KResult<&'a Tensor> {
        self.tensor(self.op.outputs.get(i)).ok_or_else(|| format!("output {i} is missing"))
    }

    /// The constant in input slot `slot`, if it is one.
    pub fn constant(&self, slot: usize) -> Option<Constant<'a>> {
        let t = usize::try_from(*self.op.inputs.get(slot)?).ok()?;
        (self.constants)(t)
    }

    /// A FLOAT32 constant input's values: in place when the model's bytes are aligned.
    pub fn constant_f32(&self, slot: usize) -> Option<Cow<'a, [f32]>> {
        match self.constant(slot)? {
            Constant::Value(v) => v.as_f32().map(Cow::Borrowed),
            Constant::Raw(d) => Some(crate::ir::codec::f32s(d.as_bytes())),
            Constant::Int8(_) => None,
        }
    }

    /// An INT8 constant input's values.
    pub fn constant_i8(&self, slot: usize) -> Option<Cow<'a, [i8]>> {
        match self.constant(slot)? {
            Constant::Value(v) => match &v.values {
                crate::ir::Values::I8(x) => Some(Cow::Borrowed(&x[..])),
                _ => None,
            },
            Constant::Int8(d) => Some(d.as_bytes().iter().map(|&b| b as i8).collect()),
            Constant::Raw(_) => None,
        }
    }

    /// The constant input's shape, when every dimension is known.
    pub fn constant_shape(&self, slot: usize) -> Option<Vec<usize>> {
        match self.constant(slot)? {
            Constant::Value(v) => Some(v.shape.clone()),
            Constant::Raw(_) | Constant::Int8(_) => {
                self.input(slot)?.shape().iter().map(|&d| usize::try_from(d).ok()).collect()
            }
        }
    }
}

/// The state of one run that outlives an op: resource variables and which CALL_ONCE
/// subgraphs have run. Every run (calibration sample) starts with a fresh one.
#[derive(Debug, Default)]
pub struct RunState {
    /// Resource ids by (container, shared name), in first-seen order (VAR_HANDLE).
    pub resources: Vec<(String, String)>,
    /// The value of each resource variable, by id.
    pub variables: Vec<Option<Value>>,
    /// Subgraphs CALL_ONCE has run.
    pub called_once: Vec<usize>,
}

/// What a kernel can ask of the interpreter that runs it: other subgraphs, and the run's state.
pub trait Calls {
    /// Runs subgraph `index` on `inputs` (in its input order) and returns its outputs.
    fn call(&mut self, index: usize, inputs: Vec<Value>) -> KResult<Vec<Value>>;
    fn state(&mut self) -> &mut RunState;
}

/// What an evaluation may use and reports besides its outputs.
#[derive(Default)]
pub struct EvalCtx<'a> {
    /// The first output's (min, max), NaN ignored, when the kernel tracked it as it stored.
    pub range: Option<(f32, f32)>,
    calls: Option<&'a mut dyn Calls>,
}

impl<'a> EvalCtx<'a> {
    pub fn new(calls: &'a mut dyn Calls) -> EvalCtx<'a> {
        EvalCtx { range: None, calls: Some(calls) }
    }

    fn calls(&mut self) -> KResult<&mut (dyn Calls + 'a)> {
        match &mut self.calls {
            Some(c) => Ok(&mut **c),
            None => Err("this kernel needs the interpreter (subgraphs or state), which is not there".into()),
        }
    }

    /// Runs subgraph `index` of the model.
    pub fn call(&mut self, index: usize, inputs: Vec<Value>) -> KResult<Vec<Value>> {
        self.calls()?.call(index, inputs)
    }

    pub fn state(&mut self) -> KResult<&mut RunState> {
        Ok(self.calls()?.state())
    }
}

/// The (min, max) of an expanded tensor and of the output, as a fused pair reports them.
pub type FusedRanges = (Option<(f32, f32)>, Option<(f32, f32)>);

/// A prepared op.
pub trait Kernel: std::any::Any + Send + Sync {
    /// Computes the outputs from the inputs (None for omitted optional ones and for the inputs
    /// prepare consumed).
    fn eval(&self, ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>>;

    /// Whether this op and `next`, which alone reads this op's only output, have a fused kernel.
    fn fuses_with(&self, _next: &dyn Kernel) -> bool {
        false
    }

    /// Runs this op (inputs `ins`) and `next` (inputs `next_ins`, the first being this op's
    /// output, not computed) as one kernel, when their tensors qualify; the intermediate is
    /// never stored, only its range is kept. `min_elements` is the smallest intermediate worth it.
    fn eval_fused(
        &self,
        _next: &dyn Kernel,
        _ins: &[Option<&Value>],
        _next_ins: &[Option<&Value>],
        _min_elements: usize,
    ) -> KResult<Option<(Value, FusedRanges)>> {
        Ok(None)
    }
}

/// A kernel that is a closure over the options prepare decoded.
struct FnKernel<F>(F);

impl<F> Kernel for FnKernel<F>
where
    F: Fn(&[Option<&Value>], &mut EvalCtx) -> KResult<Vec<Value>> + Send + Sync + 'static,
{
    fn eval(&self, ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>> {
        (self.0)(ins, ctx)
    }
}

/// A prepared op: its kernel, and the input slots prepare took in (packed weights, weights
/// read in place) that the kernel does not need again.
pub struct Prepared {
    pub kernel: Box<dyn Kernel>,
    pub consumed: Vec<usize>,
}

impl Prepared {
    /// A kernel from a closure over decoded options.
    pub fn new(f: impl Fn(&[Option<&Value>], &mut EvalCtx) -> KResult<Vec<Value>> + Send + Sync + 'static) -> Prepared {
        Prepared { kernel: Box::new(FnKernel(f)), consumed: Vec::new() }
    }

    /// A single-output kernel from a closure.
    pub fn one(f: impl Fn(&[Option<&Value>]) -> KResult<Value> + Send + Sync + 'static) -> Prepared {
        Prepared::new(move |ins, _| Ok(vec![f(ins)?]))
    }
}

/// Prepares an op's float kernel.
pub type PrepareFn = Box<dyn Fn(&PrepareCtx) -> KResult<Prepared> + Send + Sync>;

/// An op's integer kernel: what the interpreter runs when the op's tensors are quantized
/// INT8 or INT16 (see [`OpDef::is_integer`]), bit-exact with LiteRT's built-in kernels.
pub enum IntKernel {
    /// The float kernel moves values without arithmetic (RESHAPE, TRANSPOSE, GATHER...), so
    /// it runs integer tensors as they are: their parameters are the same in and out.
    Float,
    /// A kernel of its own, with the fixed-point arithmetic of the official one.
    Own(PrepareFn),
}

/// The op version a signature needs.
pub type VersionFn = fn(&OpSignature) -> i32;

/// The value of an op whose only input is a constant (its tensor and decoded value), computed
/// once when the interpreter prepares the model.
pub type FoldFn = fn(&Tensor, Value) -> KResult<Value>;

/// Everything tflq knows about one operator.
pub struct OpDef {
    pub key: OpKey,
    /// The float kernel.
    pub kernel: Option<PrepareFn>,
    /// The integer kernel, for the op with quantized INT8/INT16 tensors.
    pub int_kernel: Option<IntKernel>,
    /// The roles of constant input slots.
    pub roles: &'static [(usize, Role)],
    pub hybrid: Option<Hybrid>,
    pub integer: Option<IntegerRule>,
    /// Why the op (or, when it has an int8 rule, its 16x8 form) stays float in the
    /// full-integer modes, when the reason is not just a missing kernel in tflq.
    pub float_note: Option<&'static str>,
    /// TF's integer-only conversion (`TFLITE_BUILTINS_INT8`) keeps the op float as well,
    /// between a DEQUANTIZE and a QUANTIZE (NEG): `--strict` accepts it, as TF does.
    pub float_in_tf: bool,
    /// The version a rewritten op needs, as a function of its signature.
    pub version: VersionFn,
    /// Every version `version` can give (checked against the runtime table by the tests).
    pub versions: &'static [i32],
    pub activation: Option<FusedActivation>,
    /// Computes the op once when its input is a constant (DEQUANTIZE, DENSIFY).
    pub fold: Option<FoldFn>,
    /// The subgraphs the op runs, read from its options (WHILE, IF, CALL_ONCE).
    pub calls: Option<fn(&BuiltinOptionsT) -> Vec<i32>>,
}

fn version_one(_: &OpSignature) -> i32 {
    1
}

impl OpDef {
    pub fn builtin(op: BuiltinOperator) -> OpDef {
        OpDef {
            key: OpKey::Builtin(op),
            kernel: None,
            int_kernel: None,
            roles: &[],
            hybrid: None,
            integer: None,
            float_note: None,
            float_in_tf: false,
            version: version_one,
            versions: &[1],
            activation: None,
            fold: None,
            calls: None,
        }
    }

    /// The entry for custom op `name`, which TF and MediaPipe write with version 1.
    pub fn custom(name: &str) -> OpDef {
        OpDef { key: OpKey::Custom(name.to_string()), ..OpDef::builtin(BuiltinOperator::CUSTOM) }
    }

    pub fn kernel(mut self, f: impl Fn(&PrepareCtx) -> KResult<Prepared> + Send + Sync + 'static) -> OpDef {
        self.kernel = Some(Box::new(f));
        self
    }

    /// The integer kernel (see [`IntKernel::Own`]).
    pub fn int_kernel(mut self, f: impl Fn(&PrepareCtx) -> KResult<Prepared> + Send + Sync + 'static) -> OpDef {
        self.int_kernel = Some(IntKernel::Own(Box::new(f)));
        self
    }

    /// The float kernel runs the op's integer form too (see [`IntKernel::Float`]).
    pub fn int_same(mut self) -> OpDef {
        self.int_kernel = Some(IntKernel::Float);
        self
    }

    /// The kernel to prepare: the integer one when `integer`, else the float one.
    pub fn prepare_fn(&self, integer: bool) -> Option<&PrepareFn> {
        if !integer {
            return self.kernel.as_ref();
        }
        match self.int_kernel.as_ref()? {
            IntKernel::Float => self.kernel.as_ref(),
            IntKernel::Own(f) => Some(f),
        }
    }

    /// Whether an operator runs in integer: one of its outputs, or of its inputs that are not
    /// constants (`is_const`), is a quantized INT8 or INT16 tensor. (Int8 weights of a float
    /// op, as in the dynamic-range modes, leave it float.)
    pub fn is_integer(op: &Operator, tensors: &[Tensor], is_const: &dyn Fn(usize) -> bool) -> bool {
        let quantized = |t: usize| {
            tensors.get(t).is_some_and(|t| {
                matches!(t.dtype, crate::schema::TensorType::INT8 | crate::schema::TensorType::INT16)
                    && t.quantization.as_ref().is_some_and(|q| !q.scales().is_empty())
            })
        };
        let outs = op.outputs.iter().filter_map(|&t| usize::try_from(t).ok());
        let ins = op.inputs.iter().filter_map(|&t| usize::try_from(t).ok()).filter(|&t| !is_const(t));
        outs.chain(ins).any(quantized)
    }

    pub fn roles(mut self, roles: &'static [(usize, Role)]) -> OpDef {
        self.roles = roles;
        self
    }

    pub fn hybrid(mut self, h: Hybrid) -> OpDef {
        self.hybrid = Some(h);
        self
    }

    pub fn integer(mut self, rule: IntegerRule) -> OpDef {
        self.integer = Some(rule);
        self
    }

    /// Records why the op stays float in the integer modes (see [`OpDef::float_note`]).
    pub fn float_note(mut self, note: &'static str) -> OpDef {
        self.float_note = Some(note);
        self
    }

    /// The op stays float in TF's integer-only conversions too, for reason `note`.
    pub fn float_in_tf(mut self, note: &'static str) -> OpDef {
        self.float_note = Some(note);
        self.float_in_tf = true;
        self
    }

    pub fn version(mut self, f: VersionFn, versions: &'static [i32]) -> OpDef {
        self.version = f;
        self.versions = versions;
        self
    }

    pub fn activation(mut self, a: FusedActivation) -> OpDef {
        self.activation = Some(a);
        self
    }

    pub fn fold(mut self, f: FoldFn) -> OpDef {
        self.fold = Some(f);
        self
    }

    pub fn calls(mut self, f: fn(&BuiltinOptionsT) -> Vec<i32>) -> OpDef {
        self.calls = Some(f);
        self
    }

    /// The role of input slot `slot`.
    pub fn role(&self, slot: usize) -> Option<Role> {
        self.roles.iter().find(|r| r.0 == slot).map(|r| r.1)
    }

    /// The slot and axis of the weights, when the op has weights.
    pub fn weights(&self) -> Option<(usize, Option<usize>)> {
        self.roles.iter().find_map(|&(s, r)| match r {
            Role::Weights { axis } => Some((s, axis)),
            _ => None,
        })
    }

    /// The slot of the bias, when the op has one.
    pub fn bias(&self) -> Option<usize> {
        self.roles.iter().find_map(|&(s, r)| matches!(r, Role::Bias { .. }).then_some(s))
    }

    /// The fused activation in `options`, when the op takes one.
    pub fn fused_activation(&self, options: &BuiltinOptionsT) -> Option<ActivationFunctionType> {
        self.activation.and_then(|a| (a.get)(options))
    }
}

/// Every op tflq knows.
pub struct Registry {
    builtins: HashMap<BuiltinOperator, OpDef>,
    customs: HashMap<String, OpDef>,
}

impl Registry {
    fn add(&mut self, def: OpDef) {
        let key = def.key.clone();
        let old = match key {
            OpKey::Builtin(b) => self.builtins.insert(b, def),
            OpKey::Custom(c) => self.customs.insert(c, def),
        };
        assert!(old.is_none(), "op {:?} registered twice", old.map(|d| d.key));
    }

    pub fn builtin(&self, op: BuiltinOperator) -> Option<&OpDef> {
        self.builtins.get(&op)
    }

    pub fn custom(&self, name: &str) -> Option<&OpDef> {
        self.customs.get(name)
    }

    /// The entry for an operator-code table entry.
    pub fn of_code(&self, code: &OperatorCode) -> Option<&OpDef> {
        if code.builtin == BuiltinOperator::CUSTOM {
            self.custom(code.custom_code.as_deref().unwrap_or(""))
        } else {
            self.builtin(code.builtin)
        }
    }

    /// Every entry, builtins by code, then customs by name.
    pub fn entries(&self) -> Vec<&OpDef> {
        let mut v: Vec<&OpDef> = self.builtins.values().chain(self.customs.values()).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }
}

/// Builds the registry from every op family.
fn register_all() -> Registry {
    let mut r = Registry { builtins: HashMap::new(), customs: HashMap::new() };
    for register in [
        conv::register,
        matmul::register,
        pool::register,
        binary::register,
        unary::register,
        normalize::register,
        reduce::register,
        shape::register,
        index::register,
        resize::register,
        quant::register,
        control::register,
        generate::register,
        scatter::register,
        signal::register,
        space::register,
        conv3d::register,
        nms::register,
        sequence::register,
        mediapipe::register,
        detection::register,
    ] {
        register(&mut |def| r.add(def));
    }
    r
}

/// The registry, built once.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(register_all)
}

/// The entry for an operator code (None when tflq knows nothing of the op).
pub fn of_code(code: &OperatorCode) -> Option<&'static OpDef> {
    registry().of_code(code)
}

#[cfg(test)]
mod tests;
