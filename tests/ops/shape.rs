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
