//! ONNX Runtime's working memory, counted per compute.
//!
//! A compute's intermediate tensors and outputs come from ONNX Runtime's CPU
//! allocator, outside anything wasmtime or the task's tensor cap sees. The
//! host registers one allocator of its own with the environment (sessions
//! opt in with `session.use_env_allocators`): it counts every block against
//! the [`Meter`] of the compute running on the allocating thread, records
//! the meter's peak, and once a compute passes its budget it terminates the
//! run, which ONNX Runtime notices before its next operator.
//!
//! The allocator cannot refuse a block: ONNX Runtime does not check a
//! custom allocator's result for null before writing to it, and an error
//! cannot cross the C boundary. So a compute may overshoot its budget by
//! the operator that crossed it; the declared input limits bound that.
//! Blocks allocated on ONNX Runtime's own pool threads (intra-op threads
//! above one) or outside a compute (a session's weights) count against no
//! meter.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ort::AsPointer;
use ort::environment::Environment;
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::RunOptions;
use ort::sys::{OrtAllocator, OrtMemoryInfo};

use crate::error::SetupError;

/// ONNX Runtime's CPU kernels expect 64-byte aligned buffers; each block
/// also carries a header of this size in front of it.
const ALIGN: usize = 64;

/// What one compute's blocks add up to, against its budget.
pub(crate) struct Meter {
    in_use: AtomicUsize,
    peak: AtomicUsize,
    budget: usize,
    over: AtomicBool,
    run: Arc<RunOptions>,
}

impl Meter {
    pub(crate) fn new(budget: usize, run: Arc<RunOptions>) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            budget,
            over: AtomicBool::new(false),
            run,
        })
    }

    /// The most the compute's blocks took at once, in bytes.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether the compute passed its budget (and was told to stop).
    pub(crate) fn over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    fn add(&self, size: usize) {
        let now = self.in_use.fetch_add(size, Ordering::Relaxed) + size;
        self.peak.fetch_max(now, Ordering::Relaxed);
        if now > self.budget
            && !self.over.swap(true, Ordering::Relaxed)
            && let Err(e) = self.run.terminate()
        {
            tracing::warn!("could not stop an ONNX Runtime run over its memory budget: {e}");
        }
    }

    fn sub(&self, size: usize) {
        self.in_use.fetch_sub(size, Ordering::Relaxed);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Meter>>> = const { RefCell::new(None) };
}

/// Counts this thread's ONNX Runtime blocks against `meter` until dropped.
pub(crate) struct Metered {
    previous: Option<Arc<Meter>>,
}

impl Metered {
    pub(crate) fn start(meter: &Arc<Meter>) -> Self {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(meter.clone()));
        Self { previous }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The header in front of each block: its size and the meter it counts
/// against (a leaked `Arc`, taken back when the block is freed, so a meter
/// lives as long as its last block).
#[repr(C)]
struct Header {
    size: usize,
    meter: *const Meter,
}

const _: () = assert!(size_of::<Header>() <= ALIGN);

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(ALIGN)?, ALIGN).ok()
}

unsafe extern "system" fn alloc_block(_this: *mut OrtAllocator, size: usize) -> *mut c_void {
    let Some(layout) = layout(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout's size is at least ALIGN, never zero.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return std::ptr::null_mut();
    }
    let meter = CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .map_or(std::ptr::null(), |m| {
            m.add(size);
            Arc::into_raw(m)
        });
    // SAFETY: `base` is valid for ALIGN bytes and aligned for the header.
    unsafe { base.cast::<Header>().write(Header { size, meter }) };
    // SAFETY: the block is ALIGN + size bytes long.
    unsafe { base.add(ALIGN).cast() }
}

unsafe extern "system" fn free_block(_this: *mut OrtAllocator, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `alloc_block`, ALIGN bytes past its header.
    let base = unsafe { p.cast::<u8>().sub(ALIGN) };
    // SAFETY: written by `alloc_block`.
    let Header { size, meter } = unsafe { base.cast::<Header>().read() };
    if !meter.is_null() {
        // SAFETY: the `Arc` leaked by `alloc_block` for this block.
        let meter = unsafe { Arc::from_raw(meter) };
        meter.sub(size);
    }
    let layout = layout(size).expect("the layout was valid when allocated");
    // SAFETY: allocated with this layout.
    unsafe { dealloc(base, layout) };
}

unsafe extern "system" fn reserve_block(this: *const OrtAllocator, size: usize) -> *mut c_void {
    // SAFETY: the same contract as `alloc_block`, which ignores `this`.
    unsafe { alloc_block(this.cast_mut(), size) }
}

unsafe extern "system" fn block_info(_this: *const OrtAllocator) -> *const OrtMemoryInfo {
    registered().map_or(std::ptr::null(), |r| r.info.ptr())
}

struct Registered {
    /// Boxed: ONNX Runtime keeps the pointer for the life of the process.
    allocator: Box<OrtAllocator>,
    info: MemoryInfo<'static>,
}

// SAFETY: the allocator's functions are thread-safe (atomics and a
// thread-local) and its memory info is never changed after registration.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Registered> = OnceLock::new();

fn registered() -> Option<&'static Registered> {
    REGISTERED.get()
}

/// Registers the counting allocator with `env`, once per process.
pub(crate) fn register(env: &Environment) -> Result<(), SetupError> {
    if REGISTERED.get().is_some() {
        return Ok(());
    }
    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Device,
        MemoryType::Default,
    )?;
    // SAFETY: a zeroed allocator of the compiled API version, with every
    // function the version requires filled in below.
    let mut allocator = Box::new(unsafe { OrtAllocator::default() });
    allocator.Alloc = Some(alloc_block);
    allocator.Free = Some(free_block);
    allocator.Info = Some(block_info);
    allocator.Reserve = Some(reserve_block);
    let registered = REGISTERED.get_or_init(|| Registered { allocator, info });
    let ptr = std::ptr::from_ref::<OrtAllocator>(&*registered.allocator).cast_mut();
    // SAFETY: `ptr` lives for the process (a static), as does `env`'s.
    let status = unsafe { (ort::api().RegisterAllocator)(env.ptr().cast_mut(), ptr) };
    // SAFETY: a status returned by ONNX Runtime, released by the call.
    unsafe { ort::Error::result_from_status(status) }?;
    Ok(())
}
