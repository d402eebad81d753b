//! Data movement that keeps every element: agreement cases (src/ops/shape.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("reshape", B::RESHAPE, Opt::NONE, vec![x(&S), ci(&[6, -1])], &[6, 20]),
        case(
            "squeeze",
            B::SQUEEZE,
            Opt::SqueezeOptions(Box::new(fb::SqueezeOptionsT { squeeze_dims: Some(vec![0]) })),
            vec![x(&S)],
            &[6, 5, 4],
        ),
        case("expand_dims", B::EXPAND_DIMS, Opt::NONE, vec![x(&S), ci2(&[], &[-2])], &[1, 6, 5, 1, 4]),
        case("transpose", B::TRANSPOSE, Opt::NONE, vec![x(&S), ci(&[0, 3, 1, 2])], &[1, 4, 6, 5]),
        case(
            "concat",
            B::CONCATENATION,
            Opt::ConcatenationOptions(Box::new(fb::ConcatenationOptionsT {
                axis: -2,
                fused_activation_function: Act::RELU6,
            })),
            vec![x(&S), x(&[1, 6, 2, 4]), cf(&[1, 6, 1, 4], 9)],
            &[1, 6, 8, 4],
        ),
        Case { out_types: vec![TensorType::INT32], ..case("rank", B::RANK, Opt::NONE, vec![x(&S)], &[]) },
        Case {
            out_types: vec![],
            name: "split",
            op: B::SPLIT,
            options: Opt::SplitOptions(Box::new(fb::SplitOptionsT { num_splits: 2 })),
            inputs: vec![ci2(&[], &[3]), x(&S)],
            outputs: vec![vec![1, 6, 5, 2], vec![1, 6, 5, 2]],
        },
        case(
            "pack",
            B::PACK,
            Opt::PackOptions(Box::new(fb::PackOptionsT { values_count: 2, axis: 1 })),
            vec![x(&[2, 3]), x(&[2, 3])],
            &[2, 2, 3],
        ),
        Case {
            out_types: vec![],
            name: "unpack",
            op: B::UNPACK,
            options: Opt::UnpackOptions(Box::new(fb::UnpackOptionsT { num: 3, axis: 1 })),
            inputs: vec![x(&[2, 3, 4])],
            outputs: vec![vec![2, 4], vec![2, 4], vec![2, 4]],
        },
        case("tile", B::TILE, Opt::NONE, vec![x(&[1, 3, 2]), ci(&[2, 1, 3])], &[2, 3, 6]),
        case("broadcast_to", B::BROADCAST_TO, Opt::NONE, vec![x(&[3, 1]), ci(&[2, 3, 4])], &[2, 3, 4]),
        Case {
            out_types: vec![TensorType::INT32],
            ..case(
                "shape",
                B::SHAPE,
                Opt::ShapeOptions(Box::new(fb::ShapeOptionsT { out_type: TensorType::INT32 })),
                vec![x(&S)],
                &[4],
            )
        },
        case(
            "depth_to_space",
            B::DEPTH_TO_SPACE,
            Opt::DepthToSpaceOptions(Box::new(fb::DepthToSpaceOptionsT { block_size: 2 })),
            vec![x(&[1, 3, 2, 8])],
            &[1, 6, 4, 2],
        ),
        case(
            "space_to_depth",
            B::SPACE_TO_DEPTH,
            Opt::SpaceToDepthOptions(Box::new(fb::SpaceToDepthOptionsT { block_size: 2 })),
            vec![x(&[1, 6, 4, 3])],
            &[1, 3, 2, 12],
        ),
    ]
}
