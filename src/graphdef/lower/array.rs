//! Lowering of the ops that move, select or describe data: padding, reshapes, concatenation,
//! transposes, slices, splits, packing, shapes, fills, casts, resizes and arg-reductions.

use super::attrs::*;
use super::{err, need, Lowering, R, V};
use crate::graphdef::consts::{self, Bin, Const};
use crate::graphdef::proto::{DataType, NodeDef};
use crate::schema::*;

impl Lowering<'_> {
    pub(super) fn pad(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        let x = self.tensor(&ins[0])?;
        let xs = self.shape(x);
        let p = Self::cin(ins, 1, "paddings")?.i64s();
        if p.len() != xs.len() * 2 || p.iter().any(|&v| v < 0) {
            return err("paddings do not match the input rank");
        }
        let shape: Vec<i64> =
            xs.iter().enumerate().map(|(i, &d)| d.saturating_add(p[2 * i]).saturating_add(p[2 * i + 1])).collect();
        let pt = self.i32_const(format!("{name}/paddings"), vec![xs.len() as i64, 2], &p);
        let mut inputs = vec![x as i32, pt as i32];
        let dt = self.g.tensors[x].dtype;
        let (code, opts) = match op {
            "Pad" => (BuiltinOperator::PAD, BuiltinOptionsT::PadOptions(Box::default())),
            "PadV2" => {
                need(ins, 3)?;
                let v = self.tensor(&ins[2])?;
                inputs.push(v as i32);
                (BuiltinOperator::PADV2, BuiltinOptionsT::PadV2Options(Box::default()))
            }
            _ => {
                let mode = match attr_s(n, "mode", "REFLECT").as_str() {
                    "REFLECT" => MirrorPadMode::REFLECT,
                    "SYMMETRIC" => MirrorPadMode::SYMMETRIC,
                    m => return err(format!("mode {m} is not supported")),
                };
                (BuiltinOperator::MIRROR_PAD, BuiltinOptionsT::MirrorPadOptions(Box::new(MirrorPadOptionsT { mode })))
            }
        };
        Ok(vec![V::T(self.emit1(code, inputs, name, dt, shape, opts))])
    }

    pub(super) fn reshape(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let xs = self.shape_of(&ins[0])?;
        let spec = Self::cin(ins, 1, "shape")?.i64s();
        let total = consts::numel(&xs).ok_or("input size overflows")?;
        let known: i64 = spec
            .iter()
            .filter(|&&d| d != -1)
            .try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) })
            .ok_or("bad target shape")?;
        let unknown = spec.iter().filter(|&&d| d == -1).count();
        let mut shape = spec.clone();
        if unknown > 1 {
            return err("target shape has more than one -1");
        }
        if unknown == 1 {
            if known == 0 || total as i64 % known != 0 {
                return err(format!("cannot reshape {xs:?} to {spec:?}"));
            }
            for d in shape.iter_mut().filter(|d| **d == -1) {
                *d = total as i64 / known;
            }
        } else if known != total as i64 {
            return err(format!("cannot reshape {xs:?} to {spec:?}"));
        }
        if let V::C(c, _) = &ins[0] {
            return Ok(vec![V::C(c.reshaped(shape), name.into())]);
        }
        let x = self.tensor(&ins[0])?;
        let dt = self.g.tensors[x].dtype;
        let s = self.i32_const(format!("{name}/shape"), vec![spec.len() as i64], &spec);
        Ok(vec![V::T(self.emit1(
            BuiltinOperator::RESHAPE,
            vec![x as i32, s as i32],
            name,
            dt,
            shape,
            BuiltinOptionsT::NONE,
        ))])
    }

    pub(super) fn squeeze(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 1)?;
        let xs = self.shape_of(&ins[0])?;
        let dims = attr_list_i(n, "squeeze_dims").unwrap_or_default();
        let mut drop = Vec::new();
        for &d in &dims {
            let a = norm_axis(d, xs.len())?;
            if xs[a] != 1 {
                return err(format!("cannot squeeze dimension {d} of size {}", xs[a]));
            }
            drop.push(a);
        }
        let shape: Vec<i64> = xs
            .iter()
            .enumerate()
            .filter(|&(i, &d)| if dims.is_empty() { d != 1 } else { !drop.contains(&i) })
            .map(|(_, &d)| d)
            .collect();
        Ok(vec![self.reshape_v(&ins[0], shape, name)?])
    }

    pub(super) fn expand_dims(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let xs = self.shape_of(&ins[0])?;
        let a = Self::cin(ins, 1, "axis")?.i64s();
        let a = *a.first().ok_or("axis is empty")?;
        let a = norm_axis(a, xs.len() + 1)?;
        let mut shape = xs.clone();
        shape.insert(a, 1);
        Ok(vec![self.reshape_v(&ins[0], shape, name)?])
    }

    pub(super) fn concat(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        let (axis_v, vals) =
            if op == "Concat" { (&ins[0], &ins[1..]) } else { (&ins[ins.len() - 1], &ins[..ins.len() - 1]) };
        let V::C(axis_c, _) = axis_v else { return err("the axis must be constant") };
        let axis_raw = *axis_c.i64s().first().ok_or("axis is empty")?;
        let shapes: Vec<Vec<i64>> = vals.iter().map(|v| self.shape_of(v)).collect::<R<_>>()?;
        let rank = shapes[0].len();
        let axis = norm_axis(axis_raw, rank)?;
        let mut shape = shapes[0].clone();
        shape[axis] = 0;
        for s in &shapes {
            if s.len() != rank || (0..rank).any(|d| d != axis && s[d] != shapes[0][d]) {
                return err(format!("inputs of shapes {shapes:?} cannot be concatenated on axis {axis_raw}"));
            }
            shape[axis] += s[axis];
        }
        if vals.iter().all(|v| matches!(v, V::C(..))) {
            let cs: Vec<&Const> = vals.iter().filter_map(|v| if let V::C(c, _) = v { Some(c) } else { None }).collect();
            let c = consts::concat(&cs, axis).ok_or("constants cannot be concatenated")?;
            return Ok(vec![V::C(c, name.into())]);
        }
        let mut inputs = Vec::new();
        for v in vals {
            inputs.push(self.tensor(v)? as i32);
        }
        let dt = self.g.tensors[inputs[0] as usize].dtype;
        let opts = BuiltinOptionsT::ConcatenationOptions(Box::new(ConcatenationOptionsT {
            axis: axis_raw as i32,
            fused_activation_function: act_none(),
        }));
        Ok(vec![V::T(self.emit1(BuiltinOperator::CONCATENATION, inputs, name, dt, shape, opts))])
    }

    pub(super) fn transpose(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let xs = self.shape_of(&ins[0])?;
        let perm_raw = Self::cin(ins, 1, "perm")?.i64s();
        let mut perm = Vec::new();
        for &p in &perm_raw {
            perm.push(norm_axis(p, xs.len())?);
        }
        let mut seen = perm.clone();
        seen.sort_unstable();
        seen.dedup();
        if perm.len() != xs.len() || seen.len() != perm.len() {
            return err(format!("perm {perm_raw:?} is not a permutation of rank {}", xs.len()));
        }
        if let V::C(c, _) = &ins[0] {
            return Ok(vec![V::C(consts::transpose(c, &perm), name.into())]);
        }
        let x = self.tensor(&ins[0])?;
        let shape: Vec<i64> = perm.iter().map(|&p| xs[p]).collect();
        let pt = self.i32_const(format!("{name}/perm"), vec![perm.len() as i64], &perm_raw);
        let dt = self.g.tensors[x].dtype;
        Ok(vec![V::T(self.emit1(
            BuiltinOperator::TRANSPOSE,
            vec![x as i32, pt as i32],
            name,
            dt,
            shape,
            BuiltinOptionsT::TransposeOptions(Box::default()),
        ))])
    }

    pub(super) fn strided_slice(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 4)?;
        let xs = self.shape_of(&ins[0])?;
        let b = Self::cin(ins, 1, "begin")?.i64s();
        let e = Self::cin(ins, 2, "end")?.i64s();
        let s = Self::cin(ins, 3, "strides")?.i64s();
        let m = |k| attr_i(n, k, 0);
        let (bm, em, elm, nam, sm) =
            (m("begin_mask"), m("end_mask"), m("ellipsis_mask"), m("new_axis_mask"), m("shrink_axis_mask"));
        let spec = consts::strided_slice_spec(&xs, &b, &e, &s, bm, em, elm, nam, sm)?;
        if let V::C(c, _) = &ins[0] {
            let g = consts::strided_gather(c, &spec.gather).reshaped(spec.out_shape);
            return Ok(vec![V::C(g, name.into())]);
        }
        if elm != 0 || nam != 0 {
            return err("ellipsis_mask and new_axis_mask on a non-constant input are not supported");
        }
        let x = self.tensor(&ins[0])?;
        let n_ = b.len() as i64;
        let bt = self.i32_const(format!("{name}/begin"), vec![n_], &b);
        let et = self.i32_const(format!("{name}/end"), vec![n_], &e);
        let stt = self.i32_const(format!("{name}/strides"), vec![n_], &s);
        let dt = self.g.tensors[x].dtype;
        let opts = BuiltinOptionsT::StridedSliceOptions(Box::new(StridedSliceOptionsT {
            begin_mask: bm as i32,
            end_mask: em as i32,
            ellipsis_mask: 0,
            new_axis_mask: 0,
            shrink_axis_mask: sm as i32,
            offset: false,
        }));
        let inputs = vec![x as i32, bt as i32, et as i32, stt as i32];
        Ok(vec![V::T(self.emit1(BuiltinOperator::STRIDED_SLICE, inputs, name, dt, spec.out_shape, opts))])
    }

    pub(super) fn slice(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 3)?;
        let xs = self.shape_of(&ins[0])?;
        let b = Self::cin(ins, 1, "begin")?.i64s();
        let sz = Self::cin(ins, 2, "size")?.i64s();
        if b.len() != xs.len() || sz.len() != xs.len() {
            return err("begin and size must match the input rank");
        }
        let mut gather = Vec::new();
        for i in 0..xs.len() {
            let count = if sz[i] == -1 { xs[i] - b[i] } else { sz[i] };
            if b[i] < 0 || count < 0 || b[i] + count > xs[i] {
                return err(format!("slice begin {b:?} size {sz:?} is out of range for {xs:?}"));
            }
            gather.push((b[i], 1, count));
        }
        let shape: Vec<i64> = gather.iter().map(|g| g.2).collect();
        if let V::C(c, _) = &ins[0] {
            return Ok(vec![V::C(consts::strided_gather(c, &gather), name.into())]);
        }
        let x = self.tensor(&ins[0])?;
        let bt = self.i32_const(format!("{name}/begin"), vec![b.len() as i64], &b);
        let st = self.i32_const(format!("{name}/size"), vec![sz.len() as i64], &sz);
        let dt = self.g.tensors[x].dtype;
        Ok(vec![V::T(self.emit1(
            BuiltinOperator::SLICE,
            vec![x as i32, bt as i32, st as i32],
            name,
            dt,
            shape,
            BuiltinOptionsT::SliceOptions(Box::default()),
        ))])
    }

    pub(super) fn split(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        let (xv, axis_raw, sizes) = if op == "Split" {
            need(ins, 2)?;
            let a = *Self::cin(ins, 0, "axis")?.i64s().first().ok_or("axis is empty")?;
            (&ins[1], a, None)
        } else {
            need(ins, 3)?;
            let a = *Self::cin(ins, 2, "axis")?.i64s().first().ok_or("axis is empty")?;
            (&ins[0], a, Some(Self::cin(ins, 1, "size_splits")?.i64s()))
        };
        let xs = self.shape_of(xv)?;
        let axis = norm_axis(axis_raw, xs.len())?;
        let num = attr_i(n, "num_split", 0);
        if !(1..=1 << 16).contains(&num) {
            return err(format!("num_split {num} is invalid"));
        }
        let sizes: Vec<i64> = match sizes {
            None => {
                if xs[axis] % num != 0 {
                    return err(format!("dimension {} is not divisible by {num}", xs[axis]));
                }
                vec![xs[axis] / num; num as usize]
            }
            Some(mut s) => {
                if s.iter().any(|&v| v > 1 << 40) {
                    return err("size_splits are too large");
                }
                let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
                for v in s.iter_mut().filter(|v| **v < 0) {
                    *v = xs[axis] - known;
                }
                if s.len() != num as usize || s.iter().sum::<i64>() != xs[axis] || s.iter().any(|&v| v < 0) {
                    return err(format!("size_splits {s:?} do not add up to {}", xs[axis]));
                }
                s
            }
        };
        let mut outs = Vec::new();
        let mut start = 0;
        for (k, &sz) in sizes.iter().enumerate() {
            let mut shape = xs.clone();
            shape[axis] = sz;
            if let V::C(c, _) = xv {
                let gather: Vec<(i64, i64, i64)> =
                    (0..xs.len()).map(|d| if d == axis { (start, 1, sz) } else { (0, 1, xs[d]) }).collect();
                outs.push(V::C(consts::strided_gather(c, &gather), out_name(name, k)));
            }
            start += sz;
        }
        if !outs.is_empty() {
            return Ok(outs);
        }
        let x = self.tensor(xv)?;
        let dt = self.g.tensors[x].dtype;
        let out_specs: Vec<(String, DataType, Vec<i64>)> = sizes
            .iter()
            .enumerate()
            .map(|(k, &sz)| {
                let mut shape = xs.clone();
                shape[axis] = sz;
                (out_name(name, k), dt, shape)
            })
            .collect();
        let ts = if op == "Split" {
            let at = self.i32_const(format!("{name}/split_dim"), vec![], &[axis_raw]);
            let opts = BuiltinOptionsT::SplitOptions(Box::new(SplitOptionsT { num_splits: num as i32 }));
            self.emit(BuiltinOperator::SPLIT, vec![at as i32, x as i32], out_specs, opts)
        } else {
            let st = self.i32_const(format!("{name}/size_splits"), vec![num], &sizes);
            let at = self.i32_const(format!("{name}/split_dim"), vec![], &[axis_raw]);
            let opts = BuiltinOptionsT::SplitVOptions(Box::new(SplitVOptionsT { num_splits: num as i32 }));
            self.emit(BuiltinOperator::SPLIT_V, vec![x as i32, st as i32, at as i32], out_specs, opts)
        };
        Ok(ts.into_iter().map(V::T).collect())
    }

    pub(super) fn pack(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 1)?;
        let shapes: Vec<Vec<i64>> = ins.iter().map(|v| self.shape_of(v)).collect::<R<_>>()?;
        if shapes.iter().any(|s| *s != shapes[0]) {
            return err("Pack inputs differ in shape");
        }
        let axis_raw = attr_i(n, "axis", 0);
        let axis = norm_axis(axis_raw, shapes[0].len() + 1)?;
        let mut shape = shapes[0].clone();
        shape.insert(axis, ins.len() as i64);
        if ins.iter().all(|v| matches!(v, V::C(..))) {
            let mut one = shapes[0].clone();
            one.insert(axis, 1);
            let cs: Vec<Const> = ins
                .iter()
                .filter_map(|v| if let V::C(c, _) = v { Some(c.reshaped(one.clone())) } else { None })
                .collect();
            let refs: Vec<&Const> = cs.iter().collect();
            let c = consts::concat(&refs, axis).ok_or("constants cannot be packed")?;
            return Ok(vec![V::C(c, name.into())]);
        }
        let mut inputs = Vec::new();
        for v in ins {
            inputs.push(self.tensor(v)? as i32);
        }
        let dt = self.g.tensors[inputs[0] as usize].dtype;
        let opts = BuiltinOptionsT::PackOptions(Box::new(PackOptionsT {
            values_count: ins.len() as i32,
            axis: axis_raw as i32,
        }));
        Ok(vec![V::T(self.emit1(BuiltinOperator::PACK, inputs, name, dt, shape, opts))])
    }

    pub(super) fn shape_like(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        let xs = self.shape_of(&ins[0])?;
        let dt = attr_type(n, "out_type").unwrap_or(DataType::Int32);
        let c = match op {
            "Shape" => Const::from_i64(dt, vec![xs.len() as i64], &xs),
            "Size" => Const::from_i64(dt, vec![], &[consts::numel(&xs).ok_or("size overflows")? as i64]),
            _ => Const::from_i64(DataType::Int32, vec![], &[xs.len() as i64]),
        };
        Ok(vec![V::C(c, name.into())])
    }

    pub(super) fn zeros_like(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        let xs = self.shape_of(&ins[0])?;
        let dt = match &ins[0] {
            V::C(c, _) => c.dtype,
            V::T(t) => self.g.tensors[*t].dtype,
            _ => DataType::Float,
        };
        let n_ = consts::numel(&xs).ok_or("size overflows")?;
        if n_ > 1 << 24 {
            return err("too large to fold");
        }
        let v = vec![if op == "OnesLike" { 1 } else { 0 }; n_];
        Ok(vec![V::C(Const::from_i64(dt, xs, &v), name.into())])
    }

    pub(super) fn fill(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let dims = Self::cin(ins, 0, "dims")?.i64s();
        let v = Self::cin(ins, 1, "value")?;
        let n_ = consts::numel(&dims).ok_or("bad dims")?;
        if n_ > 1 << 24 || v.numel() != 1 {
            return err("cannot fold Fill");
        }
        let c = consts::binary(Bin::Add, &v.reshaped(vec![]), &Const::from_i64(v.dtype, dims.clone(), &vec![0; n_]))
            .ok_or("cannot fold Fill")?;
        Ok(vec![V::C(c, name.into())])
    }

    pub(super) fn cast(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 1)?;
        let to = attr_type(n, "DstT").ok_or("has no DstT")?;
        if let V::C(c, _) = &ins[0] {
            return Ok(vec![V::C(c.cast(to), name.into())]);
        }
        let x = self.tensor(&ins[0])?;
        let shape = self.shape(x);
        if self.g.tensors[x].dtype == to {
            return Ok(vec![V::T(x)]);
        }
        Ok(vec![V::T(self.emit1(BuiltinOperator::CAST, vec![x as i32], name, to, shape, BuiltinOptionsT::NONE))])
    }

    pub(super) fn resize(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        let x = self.tensor(&ins[0])?;
        let xs = self.shape(x);
        let size = Self::cin(ins, 1, "size")?.i64s();
        if xs.len() != 4 || size.len() != 2 || size.iter().any(|&v| v < 1) {
            return err("needs a 4-D input and a size of two positive values");
        }
        let ac = attr_b(n, "align_corners", false);
        let hp = attr_b(n, "half_pixel_centers", false);
        let st = self.i32_const(format!("{name}/size"), vec![2], &size);
        let shape = vec![xs[0], size[0], size[1], xs[3]];
        let dt = self.g.tensors[x].dtype;
        let (code, opts) = if op == "ResizeBilinear" {
            (
                BuiltinOperator::RESIZE_BILINEAR,
                BuiltinOptionsT::ResizeBilinearOptions(Box::new(ResizeBilinearOptionsT {
                    align_corners: ac,
                    half_pixel_centers: hp,
                })),
            )
        } else {
            (
                BuiltinOperator::RESIZE_NEAREST_NEIGHBOR,
                BuiltinOptionsT::ResizeNearestNeighborOptions(Box::new(ResizeNearestNeighborOptionsT {
                    align_corners: ac,
                    half_pixel_centers: hp,
                })),
            )
        };
        Ok(vec![V::T(self.emit1(code, vec![x as i32, st as i32], name, dt, shape, opts))])
    }

    pub(super) fn depth_to_space(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        nhwc(n)?;
        let x = self.tensor(&ins[0])?;
        let xs = self.shape(x);
        let b = attr_i(n, "block_size", 0);
        if xs.len() != 4 || !(2..=1 << 16).contains(&b) {
            return err("needs a 4-D input and block_size >= 2");
        }
        let dt = self.g.tensors[x].dtype;
        if op == "DepthToSpace" {
            if xs[3] % (b * b) != 0 {
                return err("channels are not divisible by block_size²");
            }
            let shape = vec![xs[0], xs[1].saturating_mul(b), xs[2].saturating_mul(b), xs[3] / (b * b)];
            let opts = BuiltinOptionsT::DepthToSpaceOptions(Box::new(DepthToSpaceOptionsT { block_size: b as i32 }));
            Ok(vec![V::T(self.emit1(BuiltinOperator::DEPTH_TO_SPACE, vec![x as i32], name, dt, shape, opts))])
        } else {
            if xs[1] % b != 0 || xs[2] % b != 0 {
                return err("height and width are not divisible by block_size");
            }
            let shape = vec![xs[0], xs[1] / b, xs[2] / b, xs[3].saturating_mul(b * b)];
            let opts = BuiltinOptionsT::SpaceToDepthOptions(Box::new(SpaceToDepthOptionsT { block_size: b as i32 }));
            Ok(vec![V::T(self.emit1(BuiltinOperator::SPACE_TO_DEPTH, vec![x as i32], name, dt, shape, opts))])
        }
    }

    pub(super) fn arg_reduce(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 2)?;
        let x = self.tensor(&ins[0])?;
        let xs = self.shape(x);
        let a_raw = *Self::cin(ins, 1, "axis")?.i64s().first().ok_or("axis is empty")?;
        let a = norm_axis(a_raw, xs.len())?;
        let ot = attr_type(n, "output_type").unwrap_or(DataType::Int64);
        let shape: Vec<i64> = xs.iter().enumerate().filter(|&(i, _)| i != a).map(|(_, &d)| d).collect();
        let at = self.i32_const(format!("{name}/dimension"), vec![1], &[a_raw]);
        let tt = crate::graphdef::tflite_type(ot);
        let (code, opts) = if op == "ArgMax" {
            (BuiltinOperator::ARG_MAX, BuiltinOptionsT::ArgMaxOptions(Box::new(ArgMaxOptionsT { output_type: tt })))
        } else {
            (BuiltinOperator::ARG_MIN, BuiltinOptionsT::ArgMinOptions(Box::new(ArgMinOptionsT { output_type: tt })))
        };
        Ok(vec![V::T(self.emit1(code, vec![x as i32, at as i32], name, ot, shape, opts))])
    }
}
