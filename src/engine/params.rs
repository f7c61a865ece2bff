//! The quantization parameters of one conv, as the user gave them.
use crate::error::{Error, Result};
use crate::quant::{check_zero_point, scale_f32, DType};
use serde::{Deserialize, Serialize};

/// Quantization parameters of one conv, as the user gave them (float64 scales,
/// as PyTorch stores them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvQParams {
    pub input_scale: f64,
    pub input_zero_point: i64,
    /// One scale (per-tensor) or one per output channel (per-channel, axis 0).
    pub weight_scales: Vec<f64>,
    pub weight_zero_points: Vec<i64>,
    pub per_channel: bool,
    /// Float32 bias per output channel.
    pub bias: Option<Vec<f32>>,
    pub output_scale: f64,
    pub output_zero_point: i64,
    /// Fused ReLU (ConvReLU2d): clamp below at the output zero point.
    pub relu: bool,
    /// Activation dtypes: quint8 (PyTorch) or qint8 (LiteRT); the engine
    /// table says which each engine takes.
    #[serde(default = "quint8")]
    pub input_dtype: DType,
    /// Output dtype: quint8 or qint8 codes, or qint32 for ONNX ConvInteger
    /// (the raw accumulator, no requantization).
    #[serde(default = "quint8")]
    pub output_dtype: DType,
    /// Int32 bias in accumulator units (`input_scale * weight_scale[c]`), as
    /// ONNX Runtime and LiteRT store it; added to the accumulator as an integer.
    /// PyTorch engines take the float `bias` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_i32: Option<Vec<i32>>,
    /// Fused ReLU6 (LiteRT): also clamp above at the code of 6.0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relu6: bool,
    /// Weight dtype: qint8, or quint8 (ONNX U8U8).
    #[serde(default = "qint8", skip_serializing_if = "is_qint8")]
    pub weight_dtype: DType,
    /// The model's operator is a depthwise conv (LiteRT DEPTHWISE_CONV_2D), which
    /// runs other kernels than a grouped conv of the same shape (one input channel).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub depthwise_op: bool,
}

fn qint8() -> DType {
    DType::QInt8
}
fn is_qint8(d: &DType) -> bool {
    *d == DType::QInt8
}

fn quint8() -> DType {
    DType::QUInt8
}

impl ConvQParams {
    pub fn validate(&self, out_channels: usize) -> Result<()> {
        scale_f32("input scale", self.input_scale)?;
        scale_f32("output scale", self.output_scale)?;
        for (what, d) in [("input", self.input_dtype), ("output", self.output_dtype)] {
            if d == DType::QInt32 && !(what == "output" && self.is_raw_int32()) {
                return Err(Error::Input(format!(
                    "{what} activations are 8-bit codes (quint8 or qint8), not qint32"
                )));
            }
        }
        check_zero_point("input zero point", self.input_zero_point, self.input_dtype)?;
        check_zero_point(
            "output zero point",
            self.output_zero_point,
            self.output_dtype,
        )?;
        let n = if self.per_channel { out_channels } else { 1 };
        if self.weight_scales.len() != n || self.weight_zero_points.len() != n {
            return Err(Error::BadShape(format!(
                "{} weight scales and {} weight zero points; {} needs {n}",
                self.weight_scales.len(),
                self.weight_zero_points.len(),
                if self.per_channel {
                    "per-channel"
                } else {
                    "per-tensor"
                }
            )));
        }
        for (c, (&s, &z)) in self
            .weight_scales
            .iter()
            .zip(&self.weight_zero_points)
            .enumerate()
        {
            scale_f32(&format!("weight scale of channel {c}"), s)?;
            check_zero_point(
                &format!("weight zero point of channel {c}"),
                z,
                self.weight_dtype,
            )?;
        }
        if let Some(b) = &self.bias_i32 {
            if b.len() != out_channels {
                return Err(Error::BadShape(format!(
                    "{} int32 bias values for {out_channels} output channels",
                    b.len()
                )));
            }
        }
        if let Some(b) = &self.bias {
            if b.len() != out_channels {
                return Err(Error::BadShape(format!(
                    "{} bias values for {out_channels} output channels",
                    b.len()
                )));
            }
            if let Some(c) = b.iter().position(|v| !v.is_finite()) {
                return Err(Error::BadValue(format!("bias of channel {c} is {}", b[c])));
            }
        }
        Ok(())
    }
    pub fn weight_scale(&self, c: usize) -> f64 {
        self.weight_scales[if self.per_channel { c } else { 0 }]
    }
    pub fn weight_zero_point(&self, c: usize) -> i64 {
        self.weight_zero_points[if self.per_channel { c } else { 0 }]
    }
    /// ONNX ConvInteger: the output is the raw int32 accumulator.
    pub fn is_raw_int32(&self) -> bool {
        self.output_dtype == DType::QInt32
    }
    /// The int32 bias of channel `c` (0 without one).
    pub fn bias_i32_of(&self, c: usize) -> i32 {
        self.bias_i32.as_ref().map_or(0, |b| b[c])
    }
    pub fn bias_of(&self, c: usize) -> Option<f32> {
        self.bias.as_ref().map(|b| b[c])
    }
}
