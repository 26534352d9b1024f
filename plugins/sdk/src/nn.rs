//! Inference on models the host holds, through `wasi:nn`.
//!
//! Models are named by the BLAKE3 hash of their file; a plugin declares the
//! ones it needs in [`PluginInfo::onnx_model`](crate::PluginInfo::onnx_model)
//! and opens them with [`Model::open`]. The host checks every tensor against
//! the model's declared inputs and answers a mistake with an [`NnError`] that
//! names it.
//!
//! ```ignore
//! let model = Model::open(DETECTOR_HASH)?;
//! let outputs = model.session()?.compute(vec![("x".into(), Tensor::from_f32(&[1, 3, 32, 32], &pixels))])?;
//! let scores = outputs.get("scores")?.to_f32()?;
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::TaskError;
use crate::bindings::wasi::nn::{errors, graph, inference, tensor};

/// An error from the host's inference backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NnError {
    /// The wasi-nn error code, e.g. `"invalid-argument"` or `"not-found"`.
    pub code: &'static str,
    /// The host's explanation.
    pub message: String,
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for NnError {}

impl From<errors::Error> for NnError {
    fn from(e: errors::Error) -> Self {
        let code = match e.code() {
            errors::ErrorCode::InvalidArgument => "invalid-argument",
            errors::ErrorCode::InvalidEncoding => "invalid-encoding",
            errors::ErrorCode::Timeout => "timeout",
            errors::ErrorCode::RuntimeError => "runtime-error",
            errors::ErrorCode::UnsupportedOperation => "unsupported-operation",
            errors::ErrorCode::TooLarge => "too-large",
            errors::ErrorCode::NotFound => "not-found",
            errors::ErrorCode::Security => "security",
            errors::ErrorCode::Unknown => "unknown",
        };
        Self {
            code,
            message: e.data(),
        }
    }
}

impl NnError {
    fn local(message: String) -> Self {
        Self {
            code: "invalid-argument",
            message,
        }
    }
}

impl From<NnError> for TaskError {
    fn from(e: NnError) -> Self {
        if e.code == "not-found" {
            TaskError::ModelUnavailable(e.message)
        } else {
            TaskError::Inference(e.to_string())
        }
    }
}

/// Element types a tensor can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    /// IEEE 754 half precision.
    F16,
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
    /// bfloat16.
    Bf16,
    /// Unsigned 8-bit integers.
    U8,
    /// Signed 32-bit integers.
    I32,
    /// Signed 64-bit integers.
    I64,
}

impl TensorType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    fn to_wit(self) -> tensor::TensorType {
        match self {
            Self::F16 => tensor::TensorType::Fp16,
            Self::F32 => tensor::TensorType::Fp32,
            Self::F64 => tensor::TensorType::Fp64,
            Self::Bf16 => tensor::TensorType::Bf16,
            Self::U8 => tensor::TensorType::U8,
            Self::I32 => tensor::TensorType::I32,
            Self::I64 => tensor::TensorType::I64,
        }
    }

    fn from_wit(ty: tensor::TensorType) -> Self {
        match ty {
            tensor::TensorType::Fp16 => Self::F16,
            tensor::TensorType::Fp32 => Self::F32,
            tensor::TensorType::Fp64 => Self::F64,
            tensor::TensorType::Bf16 => Self::Bf16,
            tensor::TensorType::U8 => Self::U8,
            tensor::TensorType::I32 => Self::I32,
            tensor::TensorType::I64 => Self::I64,
        }
    }
}

/// A tensor to send to the host: dimensions, element type and little-endian
/// bytes, owned or borrowed (a borrowed tensor is handed to the host without
/// a copy in the guest, e.g. straight out of the task's input).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    dims: Vec<u32>,
    ty: TensorType,
    data: Cow<'a, [u8]>,
}

impl<'a> Tensor<'a> {
    /// A tensor from raw little-endian bytes (a `Vec<u8>` or a `&[u8]`); the
    /// length must match the shape.
    pub fn from_bytes(
        dims: &[u32],
        ty: TensorType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<Self, NnError> {
        let data = data.into();
        let elements: u64 = dims.iter().map(|&d| u64::from(d)).product();
        if elements * ty.size() as u64 != data.len() as u64 {
            return Err(NnError::local(format!(
                "tensor of shape {dims:?} and type {ty:?} needs {} bytes, got {}",
                elements * ty.size() as u64,
                data.len()
            )));
        }
        Ok(Self {
            dims: dims.to_vec(),
            ty,
            data,
        })
    }

    /// An `f32` tensor.
    pub fn from_f32(dims: &[u32], values: &[f32]) -> Result<Self, NnError> {
        Self::from_bytes(dims, TensorType::F32, le_bytes(values, |v| v.to_le_bytes()))
    }

    /// An `i64` tensor.
    pub fn from_i64(dims: &[u32], values: &[i64]) -> Result<Self, NnError> {
        Self::from_bytes(dims, TensorType::I64, le_bytes(values, |v| v.to_le_bytes()))
    }

    /// An `i32` tensor.
    pub fn from_i32(dims: &[u32], values: &[i32]) -> Result<Self, NnError> {
        Self::from_bytes(dims, TensorType::I32, le_bytes(values, |v| v.to_le_bytes()))
    }

    /// A `u8` tensor.
    pub fn from_u8(dims: &[u32], values: Vec<u8>) -> Result<Self, NnError> {
        Self::from_bytes(dims, TensorType::U8, values)
    }

    /// The dimensions.
    pub fn dims(&self) -> &[u32] {
        &self.dims
    }

    /// The element type.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    fn to_wit(&self) -> tensor::Tensor {
        tensor::Tensor::new(&self.dims, self.ty.to_wit(), &self.data)
    }
}

/// A model the host holds, opened by content hash.
#[derive(Debug)]
pub struct Model {
    graph: graph::Graph,
}

impl Model {
    /// Opens the model whose file has BLAKE3 hash `hash` (64 hex characters).
    /// A model the host does not hold is a `not-found` error.
    pub fn open(hash: &str) -> Result<Self, NnError> {
        Ok(Self {
            graph: graph::load_by_name(hash)?,
        })
    }

    /// A new inference session on this model.
    pub fn session(&self) -> Result<Session, NnError> {
        Ok(Session {
            ctx: self.graph.init_execution_context()?,
        })
    }
}

/// An execution context: feed named inputs, get named outputs.
#[derive(Debug)]
pub struct Session {
    ctx: inference::GraphExecutionContext,
}

impl Session {
    /// Runs the model once on `inputs` (name, tensor).
    pub fn compute(&self, inputs: Vec<(String, Tensor<'_>)>) -> Result<Outputs, NnError> {
        self.compute_feeds(
            inputs
                .into_iter()
                .map(|(name, t)| (name, Feed::from(t)))
                .collect(),
        )
    }

    /// Runs the model once on `inputs`, each either bytes from the guest or
    /// a tensor the host already holds (an earlier output, taken with
    /// [`Outputs::take`]): a model's state (a KV cache, say) goes from one
    /// step to the next without ever entering the guest.
    pub fn compute_feeds(&self, inputs: Vec<(String, Feed<'_>)>) -> Result<Outputs, NnError> {
        // Each guest tensor's bytes are copied once, by the host, as the
        // resource is made; the guest-side tensor can go as soon as that is done.
        let inputs: Vec<inference::NamedTensor> = inputs
            .into_iter()
            .map(|(name, feed)| {
                let t = match feed {
                    Feed::Bytes(t) => t.to_wit(),
                    Feed::Held(h) => h.inner,
                };
                (name, t)
            })
            .collect();
        Ok(Outputs {
            tensors: self.ctx.compute(inputs)?,
        })
    }
}

/// One input of [`Session::compute_feeds`].
#[derive(Debug)]
pub enum Feed<'a> {
    /// Bytes from the guest.
    Bytes(Tensor<'a>),
    /// A tensor the host holds.
    Held(HeldTensor),
}

impl<'a> From<Tensor<'a>> for Feed<'a> {
    fn from(t: Tensor<'a>) -> Self {
        Self::Bytes(t)
    }
}

impl From<HeldTensor> for Feed<'_> {
    fn from(t: HeldTensor) -> Self {
        Self::Held(t)
    }
}

/// An output kept in the host: only a handle lives in the guest. Feed it to
/// the next [`Session::compute_feeds`], or read it.
#[derive(Debug)]
pub struct HeldTensor {
    inner: tensor::Tensor,
}

impl HeldTensor {
    /// The dimensions.
    pub fn dims(&self) -> Vec<u32> {
        self.inner.dimensions()
    }
}

/// A computation's outputs; each tensor's data is fetched from the host only when read.
#[derive(Debug)]
pub struct Outputs {
    tensors: Vec<inference::NamedTensor>,
}

impl Outputs {
    /// The output called `name`.
    pub fn get(&self, name: &str) -> Result<OutputTensor<'_>, NnError> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| OutputTensor { inner: t })
            .ok_or_else(|| {
                let names: Vec<&str> = self.tensors.iter().map(|(n, _)| n.as_str()).collect();
                NnError::local(format!(
                    "the model has no output {name:?}; it has {names:?}"
                ))
            })
    }

    /// Takes the output called `name` out of these outputs, as a handle to
    /// the tensor the host holds (nothing is copied).
    pub fn take(&mut self, name: &str) -> Result<HeldTensor, NnError> {
        let i = self
            .tensors
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| NnError::local(format!("the model has no output {name:?} left")))?;
        Ok(HeldTensor {
            inner: self.tensors.swap_remove(i).1,
        })
    }

    /// Output names, in the order the host returned them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }
}

/// One output tensor, read on demand.
#[derive(Debug)]
pub struct OutputTensor<'a> {
    inner: &'a tensor::Tensor,
}

impl OutputTensor<'_> {
    /// The dimensions.
    pub fn dims(&self) -> Vec<u32> {
        self.inner.dimensions()
    }

    /// The element type.
    pub fn ty(&self) -> TensorType {
        TensorType::from_wit(self.inner.ty())
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.inner.data()
    }

    /// The values as `f32`; an error if the tensor holds another type.
    pub fn to_f32(&self) -> Result<Vec<f32>, NnError> {
        self.expect(TensorType::F32)?;
        Ok(self
            .bytes()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The values as `i64`; an error if the tensor holds another type.
    pub fn to_i64(&self) -> Result<Vec<i64>, NnError> {
        self.expect(TensorType::I64)?;
        Ok(self
            .bytes()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    fn expect(&self, ty: TensorType) -> Result<(), NnError> {
        let actual = self.ty();
        if actual == ty {
            Ok(())
        } else {
            Err(NnError::local(format!(
                "output holds {actual:?}, not {ty:?}"
            )))
        }
    }
}

/// Little-endian bytes of `values`, in one allocation (wasm32 is little-endian;
/// extending a slice per value compiles to plain stores, where
/// `flat_map(to_le_bytes)` goes byte by byte).
fn le_bytes<T: Copy, const N: usize>(values: &[T], to_le: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * N);
    for &v in values {
        out.extend_from_slice(&to_le(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_constructors_write_little_endian_bytes() {
        let t = Tensor::from_f32(&[2], &[1.5, -2.0]).unwrap();
        assert_eq!(t.data.as_ref(), [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);
        let t = Tensor::from_i64(&[1], &[-2]).unwrap();
        assert_eq!(t.data.as_ref(), (-2i64).to_le_bytes());
        let t = Tensor::from_i32(&[2], &[1, 256]).unwrap();
        assert_eq!(t.data.as_ref(), [1, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn borrowed_bytes_are_not_copied() {
        let bytes = vec![0u8; 16];
        let t = Tensor::from_bytes(&[2, 2], TensorType::F32, bytes.as_slice()).unwrap();
        assert!(matches!(t.data, Cow::Borrowed(b) if b.as_ptr() == bytes.as_ptr()));
    }

    #[test]
    fn a_length_that_does_not_match_the_shape_is_refused() {
        let e = Tensor::from_bytes(&[2, 3], TensorType::F32, vec![0u8; 20]).unwrap_err();
        assert_eq!(e.code, "invalid-argument");
        assert!(e.message.contains("needs 24 bytes, got 20"), "{e}");
        let e = Tensor::from_bytes(&[2], TensorType::I64, &[0u8; 8][..]).unwrap_err();
        assert!(e.message.contains("needs 16 bytes, got 8"), "{e}");
    }
}
