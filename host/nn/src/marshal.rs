//! Moving tensors between the host's buffers and ONNX Runtime's values:
//! inputs in place when their bytes are aligned for their element type,
//! outputs left in ONNX Runtime's buffers until the guest reads them.

use std::borrow::Cow;

use clusterai_types::ContentHash;
use ort::memory::{Allocator, MemoryInfo};
use ort::session::SessionInputValue;
use ort::value::{DynTensor, DynValue, Shape, TensorRefMut};

use crate::error::NnError;
use crate::tensor::{self, Tensor};
use crate::wit::{ErrorCode, TensorType};

/// Wraps checked input tensors as ONNX Runtime values: in place when the
/// bytes are aligned for their element type, else copied once into an
/// ONNX Runtime buffer.
pub(crate) fn ort_inputs<'a>(
    cpu: &MemoryInfo<'static>,
    inputs: &'a mut [(String, Tensor)],
) -> Result<Vec<(Cow<'a, str>, SessionInputValue<'a>)>, NnError> {
    let mut values = Vec::with_capacity(inputs.len());
    for (name, t) in inputs.iter_mut() {
        let ty = t.ty();
        let shape = Shape::new(t.dimensions().iter().map(|&d| i64::from(d)));
        let value: SessionInputValue<'_> = if t.ort_value().is_some() {
            let v = t
                .ort_value()
                .ok_or_else(|| NnError::invalid(format!("input {name:?} holds no data")))?;
            SessionInputValue::from(v.view())
        } else {
            let bytes = t
                .host_bytes_mut()
                .ok_or_else(|| NnError::invalid(format!("input {name:?} holds no data")))?;
            borrowed_or_copied(cpu, bytes, ty, shape)
                .map_err(|e| NnError::runtime(format!("input {name:?}: ONNX Runtime: {e}")))?
        };
        values.push((Cow::Borrowed(name.as_str()), value));
    }
    Ok(values)
}

fn borrowed_or_copied<'a>(
    cpu: &MemoryInfo,
    bytes: &'a mut Vec<u8>,
    ty: TensorType,
    shape: Shape,
) -> ort::Result<SessionInputValue<'a>> {
    let align = tensor::element_size(ty);
    let aligned = (bytes.as_ptr() as usize).is_multiple_of(align);
    // Element counts of zero give a null-ish pointer ONNX Runtime may refuse;
    // those take the copy path too (it copies nothing).
    if aligned && !bytes.is_empty() {
        macro_rules! view {
            ($t:ty) => {{
                // SAFETY: `check_inputs` verified that `bytes` holds exactly
                // `shape`'s element count times `size_of::<$t>()` bytes; the
                // pointer is aligned for `$t` (checked above); the returned
                // value borrows `bytes` mutably for 'a, so the buffer outlives
                // the run and nothing else touches it meanwhile. Every bit
                // pattern is a valid value of these numeric types.
                let v: TensorRefMut<'a, $t> = unsafe {
                    TensorRefMut::from_raw(cpu.clone(), bytes.as_mut_ptr().cast(), shape.clone())?
                };
                Some(SessionInputValue::from(v))
            }};
        }
        let v = match ty {
            TensorType::Fp32 => view!(f32),
            TensorType::Fp64 => view!(f64),
            TensorType::U8 => view!(u8),
            TensorType::I32 => view!(i32),
            TensorType::I64 => view!(i64),
            TensorType::Fp16 | TensorType::Bf16 => None,
        };
        if let Some(v) = v {
            return Ok(v);
        }
    }
    let mut t = DynTensor::new(&Allocator::default(), tensor::to_ort(ty), shape)?;
    let dst = t.data_ptr_mut().cast::<u8>();
    if !bytes.is_empty() && !dst.is_null() {
        // SAFETY: ONNX Runtime allocated `dst` for the tensor's element count
        // times the element size, which `check_inputs` verified equals
        // `bytes.len()`; the two buffers are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }
    Ok(SessionInputValue::from(t))
}

/// Wraps a run's outputs as tensors (their bytes stay in ONNX Runtime's
/// buffers), refusing outputs wasi-nn cannot express and a total over
/// `max_bytes`.
pub(crate) fn outputs(
    hash: ContentHash,
    outputs: Vec<(String, DynValue)>,
    max_bytes: usize,
) -> Result<Vec<(String, Tensor)>, NnError> {
    let mut total = 0usize;
    let mut result = Vec::with_capacity(outputs.len());
    for (name, value) in outputs {
        let tensor = value
            .downcast::<ort::value::DynTensorValueType>()
            .map_err(|_| {
                NnError::new(
                    ErrorCode::UnsupportedOperation,
                    format!("model {hash}: output {name:?} is not a tensor"),
                )
            })
            .and_then(|t: DynTensor| {
                Tensor::from_ort(t).map_err(|why| {
                    NnError::new(
                        ErrorCode::UnsupportedOperation,
                        format!("model {hash}: output {name:?} {why}"),
                    )
                })
            })?;
        total = total.saturating_add(tensor.held_bytes());
        if total > max_bytes {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "model {hash}: outputs exceed the task's cap of {max_bytes} bytes per compute"
                ),
            ));
        }
        result.push((name, tensor));
    }
    Ok(result)
}
