//! Recurrent and sequence ops: agreement cases (src/ops/sequence.rs, src/ops/sequence/lstm.rs).

use super::*;

type In = Option<(Vec<i32>, Data)>;

/// The shape of one LSTM direction and the optional parts it has.
#[derive(Clone, Copy)]
struct Cell {
    cell: i32,
    /// Projection to this many outputs (None: no projection).
    projection: Option<i32>,
    projection_bias: bool,
    cifg: bool,
    peephole: bool,
    layer_norm: bool,
    diagonal: bool,
}

const CELL: Cell = Cell {
    cell: 6,
    projection: None,
    projection_bias: false,
    cifg: false,
    peephole: false,
    layer_norm: false,
    diagonal: false,
};

impl Cell {
    fn outputs(&self) -> i32 {
        self.projection.unwrap_or(self.cell)
    }

    /// Slots 1..=17 of one direction (weights, peepholes, biases, projection) for inputs of
    /// `n_input` features, then the auxiliary weights (4) for `aux` features.
    fn weights(&self, n_input: i32, aux: Option<i32>, seed: u64) -> (Vec<In>, Vec<In>) {
        let (n, out) = (self.cell, self.outputs());
        let gate = |present: bool, shape: &[i32], s: u64| if present { cf(shape, seed * 100 + s) } else { None };
        let mut v = Vec::new();
        for g in 0..4 {
            v.push(gate(g != 0 || !self.cifg, &[n, n_input], g));
        }
        let rec: Vec<i32> = if self.diagonal { vec![n] } else { vec![n, out] };
        for g in 0..4 {
            v.push(gate(g != 0 || !self.cifg, &rec, 4 + g));
        }
        for g in 0..3 {
            v.push(gate(self.peephole && (g != 0 || !self.cifg), &[n], 8 + g));
        }
        for g in 0..4 {
            v.push(gate(g != 0 || !self.cifg, &[n], 11 + g));
        }
        v.push(gate(self.projection.is_some(), &[out, n], 15));
        v.push(gate(self.projection_bias, &[out], 16));
        let aux_weights = (0..4).map(|g| aux.and_then(|k| gate(g != 0 || !self.cifg, &[n, k], 17 + g))).collect();
        (v, aux_weights)
    }

    fn layer_norm(&self, seed: u64) -> Vec<In> {
        (0..4)
            .map(
                |g| {
                    if self.layer_norm && (g != 0 || !self.cifg) {
                        cf(&[self.cell], seed * 100 + 30 + g)
                    } else {
                        None
                    }
                },
            )
            .collect()
    }
}

fn lstm_options(act: Act, cell_clip: f32, proj_clip: f32, time_major: bool) -> Opt {
    Opt::UnidirectionalSequenceLSTMOptions(Box::new(fb::UnidirectionalSequenceLSTMOptionsT {
        fused_activation_function: act,
        cell_clip,
        proj_clip,
        time_major,
        ..Default::default()
    }))
}

/// An UNIDIRECTIONAL_SEQUENCE_LSTM over [batch, time, 5] (or [time, batch, 5]).
fn uni_lstm(name: &'static str, c: Cell, opts: Opt, batch: i32, time: i32, seed: u64) -> Case {
    let time_major = matches!(&opts, Opt::UnidirectionalSequenceLSTMOptions(o) if o.time_major);
    let dims = |n: i32| if time_major { vec![time, batch, n] } else { vec![batch, time, n] };
    let mut inputs = vec![x(&dims(5))];
    inputs.extend(c.weights(5, None, seed).0);
    inputs.push(state(&[batch, c.outputs()]));
    inputs.push(state(&[batch, c.cell]));
    inputs.extend(c.layer_norm(seed));
    case(name, BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM, opts, inputs, &dims(c.outputs()))
}

/// An LSTM (one step) over [batch, 5].
fn lstm(name: &'static str, c: Cell, act: Act, cell_clip: f32, proj_clip: f32, batch: i32, seed: u64) -> Case {
    let mut inputs = vec![x(&[batch, 5])];
    inputs.extend(c.weights(5, None, seed).0);
    inputs.push(state(&[batch, c.outputs()]));
    inputs.push(state(&[batch, c.cell]));
    inputs.extend(c.layer_norm(seed));
    let opts = Opt::LSTMOptions(Box::new(fb::LSTMOptionsT {
        fused_activation_function: act,
        cell_clip,
        proj_clip,
        ..Default::default()
    }));
    case(name, BuiltinOperator::LSTM, opts, inputs, &[batch, c.outputs()])
}

/// How a BIDIRECTIONAL_SEQUENCE_LSTM uses its auxiliary input.
#[derive(Clone, Copy, PartialEq)]
enum Aux {
    None,
    /// The backward direction's input (no auxiliary weights).
    Backward,
    /// Added to both directions through auxiliary weights of this width.
    Weights(i32),
}

/// A BIDIRECTIONAL_SEQUENCE_LSTM over [time, batch, 5] (or [batch, time, 5]).
#[allow(clippy::too_many_arguments)]
fn bi_lstm(
    name: &'static str,
    fw: Cell,
    bw: Cell,
    merge: bool,
    time_major: bool,
    aux: Aux,
    batch: i32,
    time: i32,
) -> Case {
    let dims = |n: i32| if time_major { vec![time, batch, n] } else { vec![batch, time, n] };
    let width = match aux {
        Aux::Weights(k) => Some(k),
        _ => None,
    };
    let (fw_w, fw_aux) = fw.weights(5, width, 7);
    let (bw_w, bw_aux) = bw.weights(5, width, 8);
    let mut inputs = vec![x(&dims(5))];
    inputs.extend(fw_w);
    inputs.extend(bw_w);
    inputs.push(state(&[batch, fw.outputs()]));
    inputs.push(state(&[batch, fw.cell]));
    inputs.push(state(&[batch, bw.outputs()]));
    inputs.push(state(&[batch, bw.cell]));
    inputs.push(match aux {
        Aux::None => None,
        Aux::Backward => x(&dims(5)),
        Aux::Weights(k) => x(&dims(k)),
    });
    inputs.extend(fw_aux);
    inputs.extend(bw_aux);
    let opts = Opt::BidirectionalSequenceLSTMOptions(Box::new(fb::BidirectionalSequenceLSTMOptionsT {
        fused_activation_function: Act::TANH,
        cell_clip: 0.0,
        proj_clip: 0.0,
        merge_outputs: merge,
        time_major,
        ..Default::default()
    }));
    let outputs =
        if merge { vec![dims(fw.outputs() + bw.outputs())] } else { vec![dims(fw.outputs()), dims(bw.outputs())] };
    Case { name, op: BuiltinOperator::BIDIRECTIONAL_SEQUENCE_LSTM, options: opts, inputs, outputs, out_types: vec![] }
}

/// RNN weights, recurrent weights, bias and hidden state for `units` units over `n_input`.
fn rnn_cell(units: i32, n_input: i32, batch: i32, seed: u64) -> Vec<In> {
    vec![cf(&[units, n_input], seed), cf(&[units, units], seed + 1), cf(&[units], seed + 2), state(&[batch, units])]
}

/// An input followed by an RNN cell's operands.
fn rnn(input: In, cell: Vec<In>) -> Vec<In> {
    std::iter::once(input).chain(cell).collect()
}

fn sequence_rnn(name: &'static str, act: Act, time_major: bool, batch: i32, time: i32) -> Case {
    let dims = |n: i32| if time_major { vec![time, batch, n] } else { vec![batch, time, n] };
    let mut inputs = vec![x(&dims(4))];
    inputs.extend(rnn_cell(7, 4, batch, 21));
    let opts = Opt::SequenceRNNOptions(Box::new(fb::SequenceRNNOptionsT {
        time_major,
        fused_activation_function: act,
        ..Default::default()
    }));
    case(name, BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_RNN, opts, inputs, &dims(7))
}

fn bi_rnn(name: &'static str, act: Act, merge: bool, time_major: bool, batch: i32, time: i32) -> Case {
    let dims = |n: i32| if time_major { vec![time, batch, n] } else { vec![batch, time, n] };
    let mut inputs = vec![x(&dims(4))];
    inputs.extend(rnn_cell(5, 4, batch, 31));
    inputs.extend(rnn_cell(3, 4, batch, 41));
    inputs.extend([None, None, None]);
    let opts = Opt::BidirectionalSequenceRNNOptions(Box::new(fb::BidirectionalSequenceRNNOptionsT {
        time_major,
        fused_activation_function: act,
        merge_outputs: merge,
        ..Default::default()
    }));
    let outputs = if merge { vec![dims(8)] } else { vec![dims(5), dims(3)] };
    Case { name, op: BuiltinOperator::BIDIRECTIONAL_SEQUENCE_RNN, options: opts, inputs, outputs, out_types: vec![] }
}

fn svdf(name: &'static str, rank: i32, bias: bool, act: Act, batch: i32) -> Case {
    let (units, memory, n_input) = (4, 3, 6);
    let filters = units * rank;
    let inputs = vec![
        x(&[batch, n_input]),
        cf(&[filters, n_input], 51),
        cf(&[filters, memory], 52),
        if bias { cf(&[units], 53) } else { None },
        state(&[batch, filters * memory]),
    ];
    let opts =
        Opt::SVDFOptions(Box::new(fb::SVDFOptionsT { rank, fused_activation_function: act, ..Default::default() }));
    case(name, BuiltinOperator::SVDF, opts, inputs, &[batch, units])
}

/// An INT8 or UINT8 table of `rows` × 3 × 2 with `scales` (one, or one per row).
fn quantized_table(dtype: fb::TensorType, rows: i32, scales: Vec<f32>) -> In {
    let n = (rows * 6) as usize;
    let bytes = floats(n, 61, -127.0, 255.0).iter().map(|v| v.round().clamp(-127.0, 255.0) as i32 as u8).collect();
    Some((vec![rows, 3, 2], Data::Quantized(dtype, bytes, scales, 0)))
}

fn lookup_sparse(name: &'static str, combiner: fb::CombinerType, indices: &[i32], dense: &[i32]) -> Case {
    let n = dense.len() as i32;
    let count = indices.len() as i32 / n;
    let ids: Vec<i32> = (0..count).map(|i| (i * 7 + 3) % 9).collect();
    let out: Vec<i32> = dense[..dense.len() - 1].iter().copied().chain([4, 2]).collect();
    case(
        name,
        BuiltinOperator::EMBEDDING_LOOKUP_SPARSE,
        Opt::EmbeddingLookupSparseOptions(Box::new(fb::EmbeddingLookupSparseOptionsT { combiner })),
        vec![ci(&ids), ci2(&[count, n], indices), ci(dense), x(&[count]), cf(&[9, 4, 2], 71)],
        &out,
    )
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    let peep = Cell { peephole: true, ..CELL };
    let cifg = Cell { cifg: true, ..CELL };
    let cifg_peep = Cell { cifg: true, peephole: true, ..CELL };
    let proj = Cell { projection: Some(4), projection_bias: true, peephole: true, ..CELL };
    let ln = Cell { layer_norm: true, peephole: true, ..CELL };
    let ln_cifg_proj = Cell { layer_norm: true, cifg: true, projection: Some(3), ..CELL };
    let diag = Cell { diagonal: true, ..CELL };
    let cifg_proj = Cell { cifg: true, projection: Some(4), ..CELL };
    let tanh = |time_major| lstm_options(Act::TANH, 0.0, 0.0, time_major);
    let mut v = vec![
        uni_lstm("uni_lstm_batch_major", CELL, tanh(false), 2, 4, 1),
        uni_lstm("uni_lstm_time_major", CELL, tanh(true), 3, 5, 2),
        uni_lstm("uni_lstm_cifg", cifg, tanh(false), 2, 4, 3),
        uni_lstm("uni_lstm_cifg_peephole", cifg_peep, tanh(true), 2, 3, 4),
        uni_lstm("uni_lstm_peephole", peep, tanh(false), 1, 6, 5),
        uni_lstm("uni_lstm_projection_clips", proj, lstm_options(Act::TANH, 0.8, 0.3, false), 2, 5, 6),
        uni_lstm("uni_lstm_layer_norm", ln, tanh(true), 2, 4, 7),
        uni_lstm("uni_lstm_layer_norm_cifg_proj", ln_cifg_proj, tanh(false), 3, 3, 8),
        uni_lstm("uni_lstm_diagonal", diag, tanh(false), 2, 4, 9),
        uni_lstm("uni_lstm_relu_cell_clip", CELL, lstm_options(Act::RELU, 1.5, 0.0, true), 2, 4, 10),
        uni_lstm("uni_lstm_relu6", peep, lstm_options(Act::RELU6, 0.0, 0.0, false), 2, 3, 11),
        uni_lstm("uni_lstm_act_none", CELL, lstm_options(Act::NONE, 0.0, 0.0, false), 2, 4, 12),
        lstm("lstm_batch2", CELL, Act::TANH, 0.0, 0.0, 2, 13),
        lstm("lstm_peephole_projection_clips", proj, Act::TANH, 0.5, 0.2, 3, 14),
        lstm("lstm_layer_norm_cifg_proj", ln_cifg_proj, Act::TANH, 0.0, 0.0, 2, 15),
        lstm("lstm_cifg_relu", cifg, Act::RELU, 0.0, 0.0, 1, 16),
        bi_lstm("bi_lstm_time_major", CELL, CELL, false, true, Aux::None, 2, 4),
        bi_lstm("bi_lstm_merged_batch_major", CELL, peep, true, false, Aux::None, 1, 5),
        bi_lstm("bi_lstm_merged_batch_major_batch3", CELL, peep, true, false, Aux::None, 3, 4),
        bi_lstm("bi_lstm_merged_time_major", proj, cifg_proj, true, true, Aux::None, 3, 3),
        bi_lstm("bi_lstm_batch_major", Cell { peephole: true, ..cifg_proj }, proj, false, false, Aux::None, 2, 4),
        bi_lstm("bi_lstm_aux_backward_input", CELL, peep, false, true, Aux::Backward, 2, 3),
        bi_lstm("bi_lstm_aux_weights", cifg, CELL, true, true, Aux::Weights(3), 2, 4),
        bi_lstm("bi_lstm_aux_weights_batch_major", CELL, cifg_peep, false, false, Aux::Weights(2), 2, 3),
    ];
    // The 20-input form (no layer-norm slots).
    let mut legacy = uni_lstm("uni_lstm_20_inputs", peep, tanh(true), 2, 3, 17);
    legacy.inputs.truncate(20);
    v.push(legacy);
    // Activation NONE with all-zero steps (LiteRT then skips the input product).
    let mut zeros = uni_lstm("uni_lstm_act_none_zero_steps", ln, lstm_options(Act::NONE, 0.0, 0.0, true), 2, 4, 18);
    let mut steps = floats(4 * 2 * 5, 19, -2.0, 2.0);
    steps[10..20].fill(0.0);
    steps[30..35].fill(0.0);
    zeros.inputs[0] = Some((vec![4, 2, 5], Data::F32(steps)));
    v.push(zeros);
    v.extend([
        case(
            "rnn_tanh",
            B::RNN,
            Opt::RNNOptions(Box::new(fb::RNNOptionsT { fused_activation_function: Act::TANH, ..Default::default() })),
            rnn(x(&[2, 4]), rnn_cell(6, 4, 2, 81)),
            &[2, 6],
        ),
        case(
            "rnn_relu",
            B::RNN,
            Opt::RNNOptions(Box::new(fb::RNNOptionsT { fused_activation_function: Act::RELU, ..Default::default() })),
            rnn(x(&[3, 4]), rnn_cell(5, 4, 3, 91)),
            &[3, 5],
        ),
        sequence_rnn("uni_rnn_tanh_batch_major", Act::TANH, false, 2, 5),
        sequence_rnn("uni_rnn_relu_time_major", Act::RELU, true, 3, 4),
        sequence_rnn("uni_rnn_relu6", Act::RELU6, false, 1, 6),
        sequence_rnn("uni_rnn_none", Act::NONE, true, 2, 3),
        bi_rnn("bi_rnn_time_major", Act::TANH, false, true, 2, 4),
        bi_rnn("bi_rnn_merged_batch_major", Act::TANH, true, false, 2, 5),
        bi_rnn("bi_rnn_merged_time_major_relu", Act::RELU, true, true, 3, 3),
        bi_rnn("bi_rnn_batch_major_relu_n1", Act::RELU_N1_TO_1, false, false, 2, 3),
        svdf("svdf_rank1", 1, true, Act::NONE, 2),
        svdf("svdf_rank2_relu", 2, true, Act::RELU, 3),
        svdf("svdf_rank2_no_bias", 2, false, Act::NONE, 1),
        case(
            "embedding_lookup",
            B::EMBEDDING_LOOKUP,
            Opt::NONE,
            vec![ci(&[3, 0, 9, 3]), cf(&[10, 3, 2], 62)],
            &[4, 3, 2],
        ),
        case(
            "embedding_lookup_id_input",
            B::EMBEDDING_LOOKUP,
            Opt::NONE,
            vec![Some((vec![6], Data::Ids(0, 10))), cf(&[10, 4], 63)],
            &[6, 4],
        ),
        case(
            "embedding_lookup_int8",
            B::EMBEDDING_LOOKUP,
            Opt::NONE,
            vec![ci(&[1, 7, 7, 0, 4]), quantized_table(fb::TensorType::INT8, 8, vec![0.02])],
            &[5, 3, 2],
        ),
        case(
            "embedding_lookup_int8_per_row",
            B::EMBEDDING_LOOKUP,
            Opt::NONE,
            vec![ci(&[2, 5, 0, 5]), quantized_table(fb::TensorType::INT8, 6, vec![0.5, 0.25, 0.125, 0.01, 1.0, 0.03])],
            &[4, 3, 2],
        ),
        case(
            "embedding_lookup_uint8",
            B::EMBEDDING_LOOKUP,
            Opt::NONE,
            vec![ci(&[3, 1, 2]), quantized_table(fb::TensorType::UINT8, 4, vec![0.1])],
            &[3, 3, 2],
        ),
        lookup_sparse("lookup_sparse_sum", fb::CombinerType::SUM, &[0, 0, 0, 1, 1, 0, 2, 0, 2, 1, 2, 2], &[3, 4]),
        lookup_sparse("lookup_sparse_mean", fb::CombinerType::MEAN, &[0, 0, 1, 0, 1, 1, 1, 2, 3, 0], &[4, 3]),
        lookup_sparse(
            "lookup_sparse_sqrtn_rank3",
            fb::CombinerType::SQRTN,
            &[0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0],
            &[2, 2, 3],
        ),
    ]);
    v
}

/// The sequence ops TF 2.21 emits (testdata/README.md), in both interpreters, to 1e-5.
#[test]
fn tf_emitted_sequence_models_agree() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["op_lstm.tflite", "op_lstm_time_major.tflite", "op_sequence_rnn.tflite", "op_embedding_lookup.tflite"];
    for name in names {
        let path = common::testdata(name);
        let out = dir.path().join(name);
        oracle!("run", "--out", out, path);
        let model = tflq::load(&path).unwrap();
        let interp = Interpreter::new(&model, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = (0..interp.inputs().len()).map(|i| npy_value(&out.join(format!("input_{i}.npy")))).collect();
        let got = interp.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (j, g) in got.iter().enumerate() {
            let want = npy_value(&out.join(format!("m0/output_{j}.npy")));
            assert_eq!(g.shape, want.shape, "{name} output {j}");
            let r = rel_diff(&as_f32(g), &as_f32(&want));
            eprintln!("{name:32} output {j}: max rel diff {r:.3e}");
            assert!(r <= 1e-5, "{name} output {j}: max rel diff {r:e}");
        }
    }
}
