//! Tensors as the guest sees them (`wasi:nn/tensor.tensor`) and their mapping
//! onto ONNX Runtime element types.
//!
//! Copies: an input tensor's bytes are lifted out of guest memory once (by the
//! component model) and handed to ONNX Runtime in place when they are aligned
//! for their element type; an output stays in ONNX Runtime's buffer until the
//! guest reads it, and is copied once into the guest. See the crate docs.

use ort::value::{DynTensor, TensorElementType};

use crate::wit::TensorType;

/// The size in bytes of one element of `ty`.
pub fn element_size(ty: TensorType) -> usize {
    match ty {
        TensorType::U8 => 1,
        TensorType::Fp16 | TensorType::Bf16 => 2,
        TensorType::Fp32 | TensorType::I32 => 4,
        TensorType::Fp64 | TensorType::I64 => 8,
    }
}

/// The short name used in messages and JSON: `f16`, `f32`, `f64`, `bf16`, `u8`, `i32`, `i64`.
pub fn type_name(ty: TensorType) -> &'static str {
    match ty {
        TensorType::Fp16 => "f16",
        TensorType::Fp32 => "f32",
        TensorType::Fp64 => "f64",
        TensorType::Bf16 => "bf16",
        TensorType::U8 => "u8",
        TensorType::I32 => "i32",
        TensorType::I64 => "i64",
    }
}

/// Parses a short type name as [`type_name`] writes it.
pub fn parse_type_name(s: &str) -> Option<TensorType> {
    Some(match s {
        "f16" => TensorType::Fp16,
        "f32" => TensorType::Fp32,
        "f64" => TensorType::Fp64,
        "bf16" => TensorType::Bf16,
        "u8" => TensorType::U8,
        "i32" => TensorType::I32,
        "i64" => TensorType::I64,
        _ => return None,
    })
}

/// The ONNX Runtime element type of a wasi-nn tensor type.
pub(crate) fn to_ort(ty: TensorType) -> TensorElementType {
    match ty {
        TensorType::Fp16 => TensorElementType::Float16,
        TensorType::Fp32 => TensorElementType::Float32,
        TensorType::Fp64 => TensorElementType::Float64,
        TensorType::Bf16 => TensorElementType::Bfloat16,
        TensorType::U8 => TensorElementType::Uint8,
        TensorType::I32 => TensorElementType::Int32,
        TensorType::I64 => TensorElementType::Int64,
    }
}

/// The wasi-nn type an ONNX Runtime element type is exchanged as, if any.
///
/// `bool` travels as `u8` (one byte per element, 0 or 1, the same layout).
pub(crate) fn from_ort(ty: TensorElementType) -> Option<TensorType> {
    Some(match ty {
        TensorElementType::Float16 => TensorType::Fp16,
        TensorElementType::Float32 => TensorType::Fp32,
        TensorElementType::Float64 => TensorType::Fp64,
        TensorElementType::Bfloat16 => TensorType::Bf16,
        TensorElementType::Uint8 | TensorElementType::Bool => TensorType::U8,
        TensorElementType::Int32 => TensorType::I32,
        TensorElementType::Int64 => TensorType::I64,
        _ => return None,
    })
}

/// The ONNX name of an element type, for messages (`float`, `int64`, `bool`, ...).
pub(crate) fn ort_type_name(ty: TensorElementType) -> &'static str {
    match ty {
        TensorElementType::Float32 => "float",
        TensorElementType::Uint8 => "uint8",
        TensorElementType::Int8 => "int8",
        TensorElementType::Uint16 => "uint16",
        TensorElementType::Int16 => "int16",
        TensorElementType::Int32 => "int32",
        TensorElementType::Int64 => "int64",
        TensorElementType::String => "string",
        TensorElementType::Bool => "bool",
        TensorElementType::Float16 => "float16",
        TensorElementType::Float64 => "double",
        TensorElementType::Uint32 => "uint32",
        TensorElementType::Uint64 => "uint64",
        TensorElementType::Bfloat16 => "bfloat16",
        _ => "an element type wasi-nn cannot express",
    }
}

/// The number of bytes a tensor of `dims` and `ty` must hold, or `None` when
/// that number does not fit a `usize`.
pub fn expected_bytes(dims: &[u32], ty: TensorType) -> Option<usize> {
    dims.iter()
        .try_fold(element_size(ty), |acc, &d| acc.checked_mul(d as usize))
}

/// A tensor: dimensions, element type and bytes (row-major, little-endian).
///
/// The bytes live either in a host buffer (tensors the guest made) or in
/// ONNX Runtime's output buffer (tensors `compute` returned).
#[derive(Debug)]
pub struct Tensor {
    dims: Vec<u32>,
    ty: TensorType,
    data: Data,
}

enum Data {
    /// Bytes the guest gave (or a host caller built).
    Host(Vec<u8>),
    /// An output of ONNX Runtime, in CPU memory, `len` bytes long.
    Ort { value: DynTensor, len: usize },
    /// A tensor the host refused to hold (over the task's budget); `compute`
    /// reports the reason.
    Refused(String),
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host(v) => write!(f, "Host({} bytes)", v.len()),
            Self::Ort { len, .. } => write!(f, "Ort({len} bytes)"),
            Self::Refused(why) => write!(f, "Refused({why})"),
        }
    }
}

impl Tensor {
    /// A tensor from bytes. Nothing is checked here: `compute` checks the
    /// tensor against the model and names what does not fit.
    pub fn new(dims: Vec<u32>, ty: TensorType, data: Vec<u8>) -> Self {
        Self {
            dims,
            ty,
            data: Data::Host(data),
        }
    }

    /// A tensor of `f32` values.
    pub fn from_f32(dims: Vec<u32>, values: &[f32]) -> Self {
        let mut data = Vec::with_capacity(values.len() * 4);
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        Self::new(dims, TensorType::Fp32, data)
    }

    /// A tensor of `i64` values.
    pub fn from_i64(dims: Vec<u32>, values: &[i64]) -> Self {
        let mut data = Vec::with_capacity(values.len() * 8);
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        Self::new(dims, TensorType::I64, data)
    }

    pub(crate) fn refused(dims: Vec<u32>, ty: TensorType, why: String) -> Self {
        Self {
            dims,
            ty,
            data: Data::Refused(why),
        }
    }

    /// Wraps an ONNX Runtime output; `None` if it is not a CPU tensor of a
    /// type wasi-nn can express, with the reason.
    pub(crate) fn from_ort(value: DynTensor) -> Result<Self, String> {
        let ort_ty = *value.data_type();
        let ty = from_ort(ort_ty).ok_or_else(|| {
            format!(
                "has element type {}, which wasi-nn cannot express",
                ort_type_name(ort_ty)
            )
        })?;
        if !value.memory_info().is_cpu_accessible() {
            return Err("is not in CPU memory".into());
        }
        let mut dims = Vec::with_capacity(value.shape().len());
        for &d in value.shape().iter() {
            dims.push(u32::try_from(d).map_err(|_| format!("has a dimension {d} over u32"))?);
        }
        let len = expected_bytes(&dims, ty).ok_or("is too large to address")?;
        Ok(Self {
            dims,
            ty,
            data: Data::Ort { value, len },
        })
    }

    /// The dimensions.
    pub fn dimensions(&self) -> &[u32] {
        &self.dims
    }

    /// The element type.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    /// The bytes (empty for a refused tensor).
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Host(v) => v,
            Data::Ort { value, len } => {
                let ptr = value.data_ptr().cast::<u8>();
                if *len == 0 || ptr.is_null() {
                    return &[];
                }
                // SAFETY: `from_ort` checked that the value is a CPU tensor whose
                // buffer holds `len` bytes (its element count times element
                // size); the buffer lives as long as `value`, which `self` owns,
                // and nothing writes to it while `self` is borrowed.
                unsafe { std::slice::from_raw_parts(ptr, *len) }
            }
            Data::Refused(_) => &[],
        }
    }

    /// The values as `f32`, if this is an `f32` tensor.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.ty == TensorType::Fp32).then(|| {
            self.bytes()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    /// The values as `i64`, if this is an `i64` tensor.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        (self.ty == TensorType::I64).then(|| {
            self.bytes()
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect()
        })
    }

    /// Host memory this tensor holds, counted against the task's budget.
    pub(crate) fn held_bytes(&self) -> usize {
        let data = match &self.data {
            Data::Host(v) => v.len(),
            Data::Ort { len, .. } => *len,
            Data::Refused(why) => why.len(),
        };
        data.saturating_add(self.dims.len().saturating_mul(4))
    }

    pub(crate) fn refusal(&self) -> Option<&str> {
        match &self.data {
            Data::Refused(why) => Some(why),
            _ => None,
        }
    }

    /// The host buffer, when the bytes live in one.
    pub(crate) fn host_bytes_mut(&mut self) -> Option<&mut Vec<u8>> {
        match &mut self.data {
            Data::Host(v) => Some(v),
            _ => None,
        }
    }

    /// The ONNX Runtime value, when the bytes live in one.
    pub(crate) fn ort_value(&self) -> Option<&DynTensor> {
        match &self.data {
            Data::Ort { value, .. } => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_bytes_refuses_overflow() {
        assert_eq!(expected_bytes(&[2, 3], TensorType::Fp32), Some(24));
        assert_eq!(expected_bytes(&[], TensorType::I64), Some(8));
        assert_eq!(
            expected_bytes(&[u32::MAX, u32::MAX, u32::MAX], TensorType::I64),
            None
        );
    }

    #[test]
    fn type_names_round_trip() {
        for ty in [
            TensorType::Fp16,
            TensorType::Fp32,
            TensorType::Fp64,
            TensorType::Bf16,
            TensorType::U8,
            TensorType::I32,
            TensorType::I64,
        ] {
            assert_eq!(parse_type_name(type_name(ty)), Some(ty));
            assert_eq!(from_ort(to_ort(ty)), Some(ty));
        }
        assert_eq!(parse_type_name("f8"), None);
    }

    #[test]
    fn f32_and_i64_helpers_round_trip() {
        let t = Tensor::from_f32(vec![2], &[1.5, -2.0]);
        assert_eq!(t.to_f32(), Some(vec![1.5, -2.0]));
        assert_eq!(t.to_i64(), None);
        let t = Tensor::from_i64(vec![1], &[-7]);
        assert_eq!(t.to_i64(), Some(vec![-7]));
    }
}
