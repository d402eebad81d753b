//! Convolutions: agreement cases (src/ops/conv.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "conv_dilated_valid",
            B::CONV_2D,
            conv(Padding::VALID, 1, 2, Act::NONE),
            vec![x(&[1, 9, 8, 3]), cf(&[5, 3, 3, 3], 4), cf(&[5], 5)],
            &[1, 5, 4, 5],
        ),
        case(
            "conv_stride2_same_relu6",
            B::CONV_2D,
            conv(Padding::SAME, 2, 1, Act::RELU6),
            vec![x(&[1, 9, 8, 3]), cf(&[6, 3, 2, 3], 6), cf(&[6], 14)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_mult2_stride2",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 2,
                stride_h: 2,
                depth_multiplier: 2,
                fused_activation_function: Act::RELU,
                dilation_w_factor: 1,
                dilation_h_factor: 1,
            })),
            vec![x(&[1, 9, 8, 3]), cf(&[1, 3, 3, 6], 7), cf(&[6], 8)],
            &[1, 5, 4, 6],
        ),
        case(
            "depthwise_dilated_wide",
            B::DEPTHWISE_CONV_2D,
            Opt::DepthwiseConv2DOptions(Box::new(fb::DepthwiseConv2DOptionsT {
                padding: Padding::SAME,
                stride_w: 1,
                stride_h: 1,
                depth_multiplier: 1,
                fused_activation_function: Act::NONE,
                dilation_w_factor: 2,
                dilation_h_factor: 2,
            })),
            vec![x(&[1, 7, 6, 37]), cf(&[1, 3, 3, 37], 10), cf(&[37], 15)],
            &[1, 7, 6, 37],
        ),
        case(
            "transpose_conv_stride2_valid",
            B::TRANSPOSE_CONV,
            Opt::TransposeConvOptions(Box::new(fb::TransposeConvOptionsT {
                padding: Padding::VALID,
                stride_w: 2,
                stride_h: 2,
                ..Default::default()
            })),
            vec![ci(&[1, 13, 11, 3]), cf(&[3, 3, 3, 4], 12), x(&S), cf(&[3], 13)],
            &[1, 13, 11, 3],
        ),
    ]
}
