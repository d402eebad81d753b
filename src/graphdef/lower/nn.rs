//! Lowering of the neural-network ops: elementwise maths, convolutions, matrix products,
//! batch norm, pooling, reductions and the dilated-convolution pattern.

use super::attrs::*;
use super::{err, need, LErr, Lowering, R, V};
use crate::graphdef::consts::{self, Bin, Const, Reduce};
use crate::graphdef::proto::{DataType, NodeDef};
use crate::schema::*;

impl Lowering<'_> {
    /// A unary elementwise op: folded when its input is constant (but SOFTMAX).
    pub(super) fn unary(&mut self, n: &NodeDef, ins: &[V], code: BuiltinOperator) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        let alpha = attr_f(n, "alpha", 0.2);
        if let V::C(c, _) = &ins[0] {
            let f: Box<dyn Fn(f32) -> f32> = match op {
                "Relu" => Box::new(|v: f32| v.max(0.0)),
                "Relu6" => Box::new(|v: f32| v.clamp(0.0, 6.0)),
                "Elu" => Box::new(|v: f32| if v > 0.0 { v } else { v.exp_m1() }),
                "Sigmoid" => Box::new(|v: f32| 1.0 / (1.0 + (-v).exp())),
                "Tanh" => Box::new(f32::tanh),
                "Rsqrt" => Box::new(|v: f32| 1.0 / v.sqrt()),
                "Sqrt" => Box::new(f32::sqrt),
                "Square" => Box::new(|v: f32| v * v),
                "Neg" => Box::new(|v: f32| -v),
                "Exp" => Box::new(f32::exp),
                "Abs" => Box::new(f32::abs),
                "LeakyRelu" => Box::new(move |v: f32| if v < 0.0 { v * alpha } else { v }),
                "Log" => Box::new(f32::ln),
                "Floor" => Box::new(f32::floor),
                "Ceil" => Box::new(f32::ceil),
                "Sin" => Box::new(f32::sin),
                "Cos" => Box::new(f32::cos),
                _ => Box::new(|v| v),
            };
            if op != "Softmax" && op != "LogSoftmax" {
                return Ok(vec![V::C(consts::unary(c, f), name.into())]);
            }
        }
        let t = self.tensor(&ins[0])?;
        let (dtype, shape) = (self.g.tensors[t].dtype, self.shape(t));
        let opts = match op {
            "LeakyRelu" => BuiltinOptionsT::LeakyReluOptions(Box::new(LeakyReluOptionsT { alpha })),
            "Softmax" => BuiltinOptionsT::SoftmaxOptions(Box::new(SoftmaxOptionsT { beta: 1.0 })),
            "LogSoftmax" => BuiltinOptionsT::LogSoftmaxOptions(Box::default()),
            _ => BuiltinOptionsT::NONE,
        };
        Ok(vec![V::T(self.emit1(code, vec![t as i32], name, dtype, shape, opts))])
    }

    /// A binary elementwise op.
    pub(super) fn binary(&mut self, n: &NodeDef, ins: &[V], b: Bin) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        // pow(x, 2) → x·x, as TF's converter writes it.
        if let (Bin::Pow, V::T(_), V::C(e, _)) = (b, &ins[0], &ins[1]) {
            if e.is_float() && e.numel() == 1 && e.f32s()[0] == 2.0 {
                return Ok(vec![self.binary_v(Bin::Mul, &ins[0], &ins[0], name)?]);
            }
        }
        if op.starts_with("BiasAdd") {
            nhwc(n)?;
        }
        // A bias on a pending dilated conv stays inside the pattern.
        if let (V::PendB2S { t, block, inner }, V::C(..)) = (&ins[0], &ins[1]) {
            if b == Bin::Add {
                let (t, block, inner) = (*t, *block, *inner);
                let r = self.binary_v(b, &V::T(t), &ins[1], name)?;
                let V::T(t2) = r else { return err("bias did not lower to a tensor") };
                if self.shape(t2) != self.shape(t) {
                    return err("bias does not match the convolution's output");
                }
                return Ok(vec![V::PendB2S { t: t2, block, inner }]);
            }
        }
        Ok(vec![self.binary_v(b, &ins[0], &ins[1], name)?])
    }

    pub(super) fn space_to_batch(&mut self, _n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 3)?;
        let x = self.tensor(&ins[0])?;
        let block = Self::cin(ins, 1, "block shape")?.i64s();
        let pads = Self::cin(ins, 2, "paddings")?.i64s();
        if block.len() != 2 || pads.len() != 4 || self.shape(x).len() != 4 {
            return Err(LErr::Unsupported);
        }
        if block.iter().any(|b| !(1..=1 << 16).contains(b)) || pads.iter().any(|p| !(0..=1 << 30).contains(p)) {
            return err("invalid block shape or paddings");
        }
        Ok(vec![V::S2B { x, block: [block[0], block[1]], pads: [pads[0], pads[1], pads[2], pads[3]] }])
    }

    pub(super) fn batch_to_space(&mut self, _n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 3)?;
        let V::PendB2S { t, block, inner } = ins[0].clone() else {
            return Err(LErr::Unsupported);
        };
        let b = Self::cin(ins, 1, "block shape")?.i64s();
        let crops = Self::cin(ins, 2, "crops")?.i64s();
        if b.len() != 2 || crops.len() != 4 || b[..] != block[..] {
            return err("BatchToSpaceND does not match its SpaceToBatchND");
        }
        let s = self.shape(t);
        let h = inner[0].saturating_mul(block[0]).saturating_sub(crops[0]).saturating_sub(crops[1]);
        let w = inner[1].saturating_mul(block[1]).saturating_sub(crops[2]).saturating_sub(crops[3]);
        if s[1] != h || s[2] != w {
            return err(format!(
                "dilated convolution pattern with paddings/crops that do not give SAME or VALID ({h}x{w} vs {}x{})",
                s[1], s[2]
            ));
        }
        Ok(vec![V::T(t)])
    }

    pub(super) fn batch_norm(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 5)?;
        nhwc(n)?;
        if attr_b(n, "is_training", true) {
            return err("is_training=true is not supported; freeze the graph in inference mode");
        }
        let eps = attr_f(n, "epsilon", 1e-4);
        let scale = Self::cin(ins, 1, "scale")?.f32s();
        let offset = Self::cin(ins, 2, "offset")?.f32s();
        let mean = Self::cin(ins, 3, "mean")?.f32s();
        let var = Self::cin(ins, 4, "variance")?.f32s();
        let c = scale.len();
        if offset.len() != c || mean.len() != c || var.len() != c {
            return err("scale, offset, mean and variance differ in length");
        }
        let m: Vec<f32> = (0..c).map(|i| scale[i] * (1.0 / (var[i] + eps).sqrt())).collect();
        let b: Vec<f32> = (0..c).map(|i| offset[i] - mean[i] * m[i]).collect();
        let mv = V::C(Const::from_f32(vec![c as i64], &m), format!("{name}/mul"));
        let bv = V::C(Const::from_f32(vec![c as i64], &b), format!("{name}/add"));
        let y = self.binary_v(Bin::Mul, &ins[0], &mv, &format!("{name}/mul_out"))?;
        let y = self.binary_v(Bin::Add, &y, &bv, name)?;
        Ok(vec![y, V::Unknown, V::Unknown, V::Unknown, V::Unknown, V::Unknown])
    }

    pub(super) fn pool(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        nhwc(n)?;
        let x = self.tensor(&ins[0])?;
        let s = self.shape(x);
        if s.len() != 4 {
            return err("input must be 4-D");
        }
        let k = hw_attr(n, "ksize")?;
        let st = hw_attr(n, "strides")?;
        let pad = padding(n)?;
        if attr_s(n, "padding", "") == "EXPLICIT" {
            return err("EXPLICIT padding on a pool is not supported");
        }
        let same = pad == Padding::SAME;
        let shape = vec![s[0], conv_out(s[1], k[0], st[0], 1, same)?, conv_out(s[2], k[1], st[1], 1, same)?, s[3]];
        let code = if op == "MaxPool" { BuiltinOperator::MAX_POOL_2D } else { BuiltinOperator::AVERAGE_POOL_2D };
        let opts = BuiltinOptionsT::Pool2DOptions(Box::new(Pool2DOptionsT {
            padding: pad,
            stride_w: st[1] as i32,
            stride_h: st[0] as i32,
            filter_width: k[1] as i32,
            filter_height: k[0] as i32,
            fused_activation_function: act_none(),
        }));
        let dt = self.g.tensors[x].dtype;
        Ok(vec![V::T(self.emit1(code, vec![x as i32], name, dt, shape, opts))])
    }

    pub(super) fn reduce(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        let keep = attr_b(n, "keep_dims", false);
        let xs = self.shape_of(&ins[0])?;
        let axes_raw = Self::cin(ins, 1, "axis")?.i64s();
        let mut axes = Vec::new();
        for &a in &axes_raw {
            let a = norm_axis(a, xs.len())?;
            if !axes.contains(&a) {
                axes.push(a);
            }
        }
        let red = match op {
            "Mean" => Reduce::Mean,
            "Sum" => Reduce::Sum,
            "Max" => Reduce::Max,
            "Min" => Reduce::Min,
            _ => Reduce::Prod,
        };
        if let V::C(c, _) = &ins[0] {
            if let Some(r) = consts::reduce(c, &axes, red, keep) {
                return Ok(vec![V::C(r, name.into())]);
            }
        }
        let x = self.tensor(&ins[0])?;
        let shape: Vec<i64> = if keep {
            xs.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
        } else {
            xs.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
        };
        let ax = self.i32_const(format!("{name}/reduction_indices"), vec![axes_raw.len() as i64], &axes_raw);
        let code = match red {
            Reduce::Mean => BuiltinOperator::MEAN,
            Reduce::Sum => BuiltinOperator::SUM,
            Reduce::Max => BuiltinOperator::REDUCE_MAX,
            Reduce::Min => BuiltinOperator::REDUCE_MIN,
            Reduce::Prod => BuiltinOperator::REDUCE_PROD,
        };
        let dt = self.g.tensors[x].dtype;
        let opts = BuiltinOptionsT::ReducerOptions(Box::new(ReducerOptionsT { keep_dims: keep }));
        Ok(vec![V::T(self.emit1(code, vec![x as i32, ax as i32], name, dt, shape, opts))])
    }

    pub(super) fn conv(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let dw = n.op == "DepthwiseConv2dNative";
        if ins.len() < 2 {
            return err("needs an input and a filter");
        }
        nhwc(n)?;
        let f = Self::cin(ins, 1, "filter")?.clone();
        if !f.is_float() || f.shape.len() != 4 {
            return err("the filter must be a 4-D float constant");
        }
        let st = hw_attr(n, "strides")?;
        let mut dil = hw_attr(n, "dilations")?;
        let mut pad = padding(n)?;
        let (mut x, pend) = match &ins[0] {
            V::S2B { x, block, pads } => {
                if pad != Padding::VALID || st != [1, 1] || dil != [1, 1] {
                    return err("dilated-convolution pattern needs a VALID, stride-1 convolution");
                }
                dil = *block;
                (*x, Some((*block, *pads)))
            }
            v => (self.tensor(v)?, None),
        };
        let mut xs = self.shape(x);
        if xs.len() != 4 {
            return err(format!("input must be 4-D, is {xs:?}"));
        }
        let (kh, kw, ci, m) = (f.shape[0], f.shape[1], f.shape[2], f.shape[3]);
        if xs[3] != ci {
            return err(format!("input has {} channels, the filter expects {ci}", xs[3]));
        }
        if attr_s(n, "padding", "") == "EXPLICIT" {
            let p = attr_list_i(n, "explicit_paddings").unwrap_or_default();
            if p.len() != 8 || p.iter().any(|&v| v < 0) {
                return err("explicit_paddings must have 8 non-negative values");
            }
            let pt = self.i32_const(format!("{name}/paddings"), vec![4, 2], &p);
            let shape: Vec<i64> = (0..4).map(|i| xs[i].saturating_add(p[2 * i]).saturating_add(p[2 * i + 1])).collect();
            let dt = self.g.tensors[x].dtype;
            x = self.emit1(
                BuiltinOperator::PAD,
                vec![x as i32, pt as i32],
                &format!("{name}/pad"),
                dt,
                shape.clone(),
                BuiltinOptionsT::PadOptions(Box::default()),
            );
            xs = shape;
        }
        // Dilated pattern: SAME when SpaceToBatchND pads, VALID otherwise;
        // BatchToSpaceND checks the result size against the batched computation.
        let mut inner = [0i64; 2];
        if let Some((block, pads)) = pend {
            if pads.iter().any(|&p| p != 0) {
                pad = Padding::SAME;
            }
            for i in 0..2 {
                let padded = xs[1 + i].saturating_add(pads[2 * i]).saturating_add(pads[2 * i + 1]);
                let k = f.shape[i];
                if padded % block[i] != 0 || padded / block[i] < k {
                    return err("SpaceToBatchND paddings do not fit the dilated convolution");
                }
                inner[i] = padded / block[i] - (k - 1);
            }
        }
        let same = pad == Padding::SAME;
        let oh = conv_out(xs[1], kh, st[0], dil[0], same)?;
        let ow = conv_out(xs[2], kw, st[1], dil[1], same)?;
        let oc = if dw { ci.checked_mul(m).ok_or("channels overflow")? } else { m };
        let (w, code, opts) = if dw {
            let w = f.reshaped(vec![1, kh, kw, oc]);
            let opts = BuiltinOptionsT::DepthwiseConv2DOptions(Box::new(DepthwiseConv2DOptionsT {
                padding: pad,
                stride_w: st[1] as i32,
                stride_h: st[0] as i32,
                depth_multiplier: m as i32,
                fused_activation_function: act_none(),
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
            }));
            (w, BuiltinOperator::DEPTHWISE_CONV_2D, opts)
        } else {
            let w = consts::transpose(&f, &[3, 0, 1, 2]);
            self.done_with(&f);
            let opts = BuiltinOptionsT::Conv2DOptions(Box::new(Conv2DOptionsT {
                padding: pad,
                stride_w: st[1] as i32,
                stride_h: st[0] as i32,
                fused_activation_function: act_none(),
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
                quantized_bias_type: TensorType::FLOAT32,
            }));
            (w, BuiltinOperator::CONV_2D, opts)
        };
        let w = w.cast(DataType::Float);
        let wt = self.g.add_const(name.to_string(), w);
        let bt = self.g.add_const(format!("{name}/bias"), Const::from_f32(vec![oc], &vec![0.0; oc as usize]));
        let shape = vec![xs[0], oh, ow, oc];
        let t = self.emit1(code, vec![x as i32, wt as i32, bt as i32], name, DataType::Float, shape, opts);
        if let Some((block, _)) = pend {
            return Ok(vec![V::PendB2S { t, block, inner }]);
        }
        Ok(vec![V::T(t)])
    }

    pub(super) fn transpose_conv(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        if ins.len() < 3 {
            return err("needs input_sizes, filter and out_backprop");
        }
        nhwc(n)?;
        let sizes = Self::cin(ins, 0, "input_sizes")?.i64s();
        let f = Self::cin(ins, 1, "filter")?.clone();
        let x = self.tensor(&ins[2])?;
        let xs = self.shape(x);
        if sizes.len() != 4 || f.shape.len() != 4 || xs.len() != 4 || !f.is_float() {
            return err("needs 4-D input_sizes, filter and input");
        }
        if f.shape[3] != xs[3] || f.shape[2] != sizes[3] || sizes.iter().any(|&v| v < 1) {
            return err("filter, input and input_sizes do not agree on channels");
        }
        let st = hw_attr(n, "strides")?;
        let dil = hw_attr(n, "dilations")?;
        if dil != [1, 1] {
            return err("dilated transposed convolution is not supported");
        }
        let pad = padding(n)?;
        if attr_s(n, "padding", "") == "EXPLICIT" {
            return err("EXPLICIT padding is not supported");
        }
        let w = consts::transpose(&f, &[2, 0, 1, 3]).cast(DataType::Float);
        self.done_with(&f);
        let wt = self.g.add_const(name.to_string(), w);
        let ot = self.i32_const(format!("{name}/input_sizes"), vec![4], &sizes);
        let opts = BuiltinOptionsT::TransposeConvOptions(Box::new(TransposeConvOptionsT {
            padding: pad,
            stride_w: st[1] as i32,
            stride_h: st[0] as i32,
            fused_activation_function: act_none(),
            quantized_bias_type: TensorType::FLOAT32,
        }));
        let t = self.emit1(
            BuiltinOperator::TRANSPOSE_CONV,
            vec![ot as i32, wt as i32, x as i32],
            name,
            DataType::Float,
            sizes,
            opts,
        );
        Ok(vec![V::T(t)])
    }

    pub(super) fn matmul(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        if ins.len() < 2 {
            return err("needs two inputs");
        }
        let (ta, tb) = if n.op == "MatMul" {
            (attr_b(n, "transpose_a", false), attr_b(n, "transpose_b", false))
        } else {
            (attr_b(n, "adj_x", false), attr_b(n, "adj_y", false))
        };
        let sa = self.shape_of(&ins[0])?;
        let sb = self.shape_of(&ins[1])?;
        if sa.len() < 2 || sb.len() < 2 {
            return err("operands must have rank 2 or more");
        }
        let (ra, ca) = if ta { (sa[sa.len() - 1], sa[sa.len() - 2]) } else { (sa[sa.len() - 2], sa[sa.len() - 1]) };
        let (rb, cb) = if tb { (sb[sb.len() - 1], sb[sb.len() - 2]) } else { (sb[sb.len() - 2], sb[sb.len() - 1]) };
        if ca != rb {
            return err(format!("inner dimensions differ: {sa:?} x {sb:?}"));
        }
        // A constant 2-D right operand makes FULLY_CONNECTED (BATCH_MATMUL of a
        // higher-rank input keeps its leading dims, as TF's rewrite does).
        let fc_rank = if n.op == "MatMul" { sa.len() == 2 } else { sb.len() == 2 };
        if let (V::C(b, _), true) = (&ins[1], fc_rank) {
            if b.is_float() && !matches!(ins[0], V::C(..)) {
                let w = if tb { b.clone() } else { consts::transpose(b, &[1, 0]) }.cast(DataType::Float);
                if !tb {
                    self.done_with(b);
                }
                let mut x = self.tensor(&ins[0])?;
                let r = sa.len();
                let lead = sa[..r - 2].to_vec();
                if ta {
                    let perm: Vec<i64> = (0..r as i64 - 2).chain([r as i64 - 1, r as i64 - 2]).collect();
                    let pt = self.i32_const(format!("{name}/perm"), vec![r as i64], &perm);
                    x = self.emit1(
                        BuiltinOperator::TRANSPOSE,
                        vec![x as i32, pt as i32],
                        &format!("{name}/transpose_a"),
                        DataType::Float,
                        lead.iter().copied().chain([ra, ca]).collect(),
                        BuiltinOptionsT::TransposeOptions(Box::default()),
                    );
                }
                let wname = match &ins[1] {
                    V::C(_, nm) if tb => nm.clone(),
                    _ => name.to_string(),
                };
                let wt = self.g.add_const(wname, w);
                let opts = BuiltinOptionsT::FullyConnectedOptions(Box::new(FullyConnectedOptionsT {
                    keep_num_dims: r > 2,
                    ..Default::default()
                }));
                let t = self.emit1(
                    BuiltinOperator::FULLY_CONNECTED,
                    vec![x as i32, wt as i32, -1],
                    name,
                    DataType::Float,
                    lead.into_iter().chain([ra, cb]).collect(),
                    opts,
                );
                return Ok(vec![V::T(t)]);
            }
        }
        let ba = &sa[..sa.len() - 2];
        let bb = &sb[..sb.len() - 2];
        let mut shape = consts::broadcast_shape(ba, bb).ok_or("batch dimensions do not broadcast")?;
        shape.push(ra);
        shape.push(cb);
        let a = self.tensor(&ins[0])?;
        let b = self.tensor(&ins[1])?;
        let dt = self.g.tensors[a].dtype;
        let opts = BuiltinOptionsT::BatchMatMulOptions(Box::new(BatchMatMulOptionsT {
            adj_x: ta,
            adj_y: tb,
            asymmetric_quantize_inputs: false,
        }));
        Ok(vec![V::T(self.emit1(BuiltinOperator::BATCH_MATMUL, vec![a as i32, b as i32], name, dt, shape, opts))])
    }
}
