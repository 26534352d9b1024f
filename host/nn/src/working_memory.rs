//! ONNX Runtime's working memory, counted and bounded per compute.
//!
//! A compute's intermediate tensors and outputs come from ONNX Runtime's CPU
//! allocator, outside anything wasmtime or the task's tensor cap sees. The
//! host registers one allocator of its own with the environment (sessions
//! opt in with `session.use_env_allocators`): it counts every block against
//! the [`Meter`] of the compute running on the allocating thread and records
//! the meter's peak.
//!
//! A block that would take a compute past its budget is refused the way
//! ONNX Runtime's own allocator fails: by throwing `std::bad_alloc`, which
//! the kernel's executor catches and turns into a failed run. A custom
//! allocator cannot return null instead (ONNX Runtime writes to the block
//! without checking), and a Rust error cannot cross the C boundary, so the
//! allocator throws through libstdc++'s `std::__throw_bad_alloc`, found in
//! the copy ONNX Runtime loaded, from a function whose ABI lets a foreign
//! exception unwind through it. Where that function cannot be found (not
//! Linux, another C++ runtime), the block is handed out and the run is
//! terminated instead, which ONNX Runtime notices before its next operator:
//! the compute then overshoots by the operator that crossed the budget.
//!
//! Blocks allocated on ONNX Runtime's own pool threads (intra-op threads
//! above one) or outside a compute (a session's weights) count against no
//! meter.
//!
//! The allocator replaces ONNX Runtime's arena, so it keeps large freed
//! blocks itself ([`Spares`], up to [`SPARES_MAX`] bytes): without them
//! every compute maps its big intermediate tensors afresh and pays a page
//! fault per page, which cost a convolutional model at two tasks at once
//! about a tenth of its throughput. A meter counts what ONNX Runtime asked
//! for, not the spare's size, which is at most an eighth larger.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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
    /// What the compute would have held with the first block refused.
    wanted: AtomicUsize,
    budget: usize,
    over: AtomicBool,
    run: Arc<RunOptions>,
}

impl Meter {
    pub(crate) fn new(budget: usize, run: Arc<RunOptions>) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            wanted: AtomicUsize::new(0),
            budget,
            over: AtomicBool::new(false),
            run,
        })
    }

    /// The most the compute's blocks took at once, in bytes.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// What the compute held or asked to hold at most: past its peak when a
    /// block was refused.
    pub(crate) fn wanted(&self) -> usize {
        self.peak().max(self.wanted.load(Ordering::Relaxed))
    }

    /// Whether the compute reached past its budget (and was stopped).
    pub(crate) fn over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    /// Counts a block of `size` bytes; `false` (counting nothing) when it
    /// would take the compute past its budget and `refuse` is set, in which
    /// case the run is also told to stop.
    fn add(&self, size: usize, refuse: bool) -> bool {
        let now = self
            .in_use
            .fetch_add(size, Ordering::Relaxed)
            .saturating_add(size);
        if now > self.budget {
            self.stop();
            if refuse {
                self.in_use.fetch_sub(size, Ordering::Relaxed);
                self.wanted.fetch_max(now, Ordering::Relaxed);
                return false;
            }
        }
        self.peak.fetch_max(now, Ordering::Relaxed);
        true
    }

    fn stop(&self) {
        if !self.over.swap(true, Ordering::Relaxed)
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

/// Counts this thread's ONNX Runtime blocks against `meter` until dropped,
/// on the thread that started it (it is neither `Send` nor `Sync`).
pub(crate) struct Metered {
    previous: Option<Arc<Meter>>,
    _this_thread: PhantomData<*const ()>,
}

impl Metered {
    pub(crate) fn start(meter: &Arc<Meter>) -> Self {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(meter.clone()));
        Self {
            previous,
            _this_thread: PhantomData,
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The header in front of each block: the size ONNX Runtime asked for,
/// the bytes the block really spans (header included; more than asked for
/// when it was a spare), and the meter it counts against (a leaked `Arc`,
/// taken back when the block is freed, so a meter lives as long as its
/// last block).
#[repr(C)]
struct Header {
    size: usize,
    span: usize,
    meter: *const Meter,
}

const _: () = assert!(size_of::<Header>() <= ALIGN);

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(ALIGN)?, ALIGN).ok()
}

/// Blocks smaller than this are left to the system allocator, whose own
/// free lists reuse them well.
const SPARE_MIN: usize = 256 << 10;

/// The most bytes kept in spare blocks between computes: a node's standing
/// cost for the speed, counted in its resident memory.
const SPARES_MAX: usize = 256 << 20;

/// A freed block kept for reuse.
struct Spare {
    base: NonNull<u8>,
    span: usize,
}

// SAFETY: a spare is memory nobody else points at; it moves between
// threads only through the `SPARES` lock.
unsafe impl Send for Spare {}

/// Large freed blocks, oldest first, up to `max` bytes.
struct Spares {
    blocks: VecDeque<Spare>,
    bytes: usize,
    max: usize,
}

impl Spares {
    const fn new(max: usize) -> Self {
        Self {
            blocks: VecDeque::new(),
            bytes: 0,
            max,
        }
    }

    /// The smallest spare that holds `span` bytes and wastes at most an
    /// eighth of them.
    fn take(&mut self, span: usize) -> Option<Spare> {
        if span < SPARE_MIN {
            return None;
        }
        let most = span.saturating_add(span / 8);
        let (at, _) = self
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| (span..=most).contains(&b.span))
            .min_by_key(|(_, b)| b.span)?;
        let spare = self.blocks.remove(at)?;
        self.bytes -= spare.span;
        Some(spare)
    }

    /// Keeps `spare`, making room by handing back the oldest blocks; hands
    /// back `spare` itself when it is too small or too big to keep.
    fn keep(&mut self, spare: Spare) -> Vec<Spare> {
        if spare.span < SPARE_MIN || spare.span > self.max {
            return vec![spare];
        }
        let mut out = Vec::new();
        while self.bytes + spare.span > self.max {
            let Some(old) = self.blocks.pop_front() else {
                break;
            };
            self.bytes -= old.span;
            out.push(old);
        }
        self.bytes += spare.span;
        self.blocks.push_back(spare);
        out
    }
}

static SPARES: Mutex<Spares> = Mutex::new(Spares::new(SPARES_MAX));

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    SPARES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A block of at least `layout`'s size: a spare when one fits, else fresh
/// from the system allocator (null when it refuses).
fn take_block(layout: Layout) -> (*mut u8, usize) {
    if let Some(spare) = spares().take(layout.size()) {
        return (spare.base.as_ptr(), spare.span);
    }
    // SAFETY: the layout's size is at least ALIGN, never zero.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        // The system is out of memory: the spares go back before the block
        // is refused.
        let kept = {
            let mut spares = spares();
            spares.bytes = 0;
            std::mem::take(&mut spares.blocks)
        };
        free_spares(kept);
        // SAFETY: as above.
        return (unsafe { alloc(layout) }, layout.size());
    }
    (base, layout.size())
}

fn free_spares(blocks: impl IntoIterator<Item = Spare>) {
    for spare in blocks {
        let layout = Layout::from_size_align(spare.span, ALIGN).expect("was valid when allocated");
        // SAFETY: allocated by the system allocator with this layout, and
        // no longer kept anywhere.
        unsafe { dealloc(spare.base.as_ptr(), layout) };
    }
}

/// Returns a block spanning `span` bytes from `base` to the spares, or to
/// the system allocator.
///
/// # Safety
/// `base` came from `take_block` with that span, and is not used again.
unsafe fn give_back_block(base: NonNull<u8>, span: usize) {
    let out = spares().keep(Spare { base, span });
    free_spares(out);
}

/// libstdc++'s `std::__throw_bad_alloc()`: throws, never returns.
type Thrower = unsafe extern "C-unwind" fn() -> !;

/// Finds `std::__throw_bad_alloc` in the libstdc++ that ONNX Runtime
/// loaded (never loading one of its own).
#[cfg(target_os = "linux")]
fn find_thrower() -> Option<Thrower> {
    // SAFETY: RTLD_NOLOAD only looks up a library already loaded; the
    // symbol, when found, is a C++ function taking nothing and never
    // returning, which is what `Thrower` says.
    unsafe {
        let lib = libc::dlopen(
            c"libstdc++.so.6".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_NOLOAD,
        );
        if lib.is_null() {
            return None;
        }
        let sym = libc::dlsym(lib, c"_ZSt17__throw_bad_allocv".as_ptr());
        (!sym.is_null()).then(|| std::mem::transmute::<*mut c_void, Thrower>(sym))
    }
}

#[cfg(not(target_os = "linux"))]
fn find_thrower() -> Option<Thrower> {
    None
}

/// Hands ONNX Runtime a block of `size` bytes, counted against the meter
/// of the compute running on this thread; throws `std::bad_alloc` (see the
/// module docs) for a block past the budget or one the system refuses.
/// Declared with an unwinding ABI: the exception passes through this frame,
/// which holds nothing to drop when it throws.
unsafe extern "system-unwind" fn alloc_block(_this: *mut OrtAllocator, size: usize) -> *mut c_void {
    let thrower = registered().and_then(|r| r.thrower);
    let Some(layout) = layout(size) else {
        return refuse(thrower, size);
    };
    let meter = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten();
    let meter = match meter {
        // Counted with its header: a graph keeping many tiny tensors alive
        // costs what they take.
        Some(m) => {
            if !m.add(layout.size(), thrower.is_some()) {
                drop(m);
                return refuse(thrower, size);
            }
            Arc::into_raw(m)
        }
        None => std::ptr::null(),
    };
    let (base, span) = take_block(layout);
    if base.is_null() {
        if !meter.is_null() {
            // SAFETY: the `Arc` leaked just above, for this block.
            let m = unsafe { Arc::from_raw(meter) };
            m.sub(layout.size());
        }
        return refuse(thrower, size);
    }
    // SAFETY: `base` is valid for ALIGN bytes and aligned for the header.
    unsafe { base.cast::<Header>().write(Header { size, span, meter }) };
    // SAFETY: the block is at least ALIGN + size bytes long.
    unsafe { base.add(ALIGN).cast() }
}

/// Fails an allocation of `size` bytes: `std::bad_alloc` where it can be
/// thrown, else the process stops (a null block would be written to).
fn refuse(thrower: Option<Thrower>, size: usize) -> *mut c_void {
    match thrower {
        // SAFETY: ONNX Runtime's kernels run inside its executor's
        // try/catch, which turns the exception into a failed run; this
        // frame and `alloc_block`'s hold nothing that needs dropping.
        Some(throw) => unsafe { throw() },
        None => {
            tracing::error!(size, "ONNX Runtime asked for a block the system refused");
            std::process::abort()
        }
    }
}

unsafe extern "system" fn free_block(_this: *mut OrtAllocator, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `alloc_block`, ALIGN bytes past its header.
    let base = unsafe { p.cast::<u8>().sub(ALIGN) };
    // SAFETY: written by `alloc_block`.
    let Header { size, span, meter } = unsafe { base.cast::<Header>().read() };
    let layout = layout(size).expect("the layout was valid when allocated");
    if !meter.is_null() {
        // SAFETY: the `Arc` leaked by `alloc_block` for this block.
        let meter = unsafe { Arc::from_raw(meter) };
        meter.sub(layout.size());
    }
    // SAFETY: `base` came from `take_block` with this span, via
    // `alloc_block`, and ONNX Runtime frees a block once.
    unsafe { give_back_block(NonNull::new(base).expect("p was not null"), span) };
}

unsafe extern "system-unwind" fn reserve_block(
    this: *const OrtAllocator,
    size: usize,
) -> *mut c_void {
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
    thrower: Option<Thrower>,
}

// SAFETY: the allocator's functions are thread-safe (atomics and a
// thread-local) and its memory info is never changed after registration.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Registered> = OnceLock::new();

/// Set once the environment has taken the allocator: a failed
/// registration is tried again, not taken for done.
static DONE: Mutex<bool> = Mutex::new(false);

fn registered() -> Option<&'static Registered> {
    REGISTERED.get()
}

/// Whether a block past a compute's budget is refused (rather than handed
/// out and the run stopped after its operator).
pub(crate) fn refuses_past_budget() -> bool {
    registered().is_some_and(|r| r.thrower.is_some())
}

/// Registers the counting allocator with `env`, once per process.
pub(crate) fn register(env: &Environment) -> Result<(), SetupError> {
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return Ok(());
    }
    let registered = match REGISTERED.get() {
        Some(r) => r,
        None => {
            let info = MemoryInfo::new(
                AllocationDevice::CPU,
                0,
                AllocatorType::Device,
                MemoryType::Default,
            )?;
            // SAFETY: a zeroed allocator of the compiled API version, with
            // every function the version requires filled in below.
            let mut allocator = Box::new(unsafe { OrtAllocator::default() });
            // SAFETY: the unwinding ABI differs from the declared one only
            // in letting an exception through; the calling convention is
            // the same.
            allocator.Alloc = Some(unsafe {
                std::mem::transmute::<
                    unsafe extern "system-unwind" fn(*mut OrtAllocator, usize) -> *mut c_void,
                    unsafe extern "system" fn(*mut OrtAllocator, usize) -> *mut c_void,
                >(alloc_block)
            });
            allocator.Free = Some(free_block);
            allocator.Info = Some(block_info);
            // SAFETY: as for `Alloc`.
            allocator.Reserve = Some(unsafe {
                std::mem::transmute::<
                    unsafe extern "system-unwind" fn(*const OrtAllocator, usize) -> *mut c_void,
                    unsafe extern "system" fn(*const OrtAllocator, usize) -> *mut c_void,
                >(reserve_block)
            });
            let thrower = find_thrower();
            if thrower.is_none() {
                tracing::warn!(
                    "libstdc++ not found beside ONNX Runtime: a compute past its memory budget \
                     is stopped after the operator that crossed it, not refused"
                );
            }
            REGISTERED.get_or_init(|| Registered {
                allocator,
                info,
                thrower,
            })
        }
    };
    let ptr = std::ptr::from_ref::<OrtAllocator>(&*registered.allocator).cast_mut();
    // SAFETY: `ptr` lives for the process (a static), as does `env`'s.
    let status = unsafe { (ort::api().RegisterAllocator)(env.ptr().cast_mut(), ptr) };
    // SAFETY: a status returned by ONNX Runtime, released by the call.
    unsafe { ort::Error::result_from_status(status) }?;
    *done = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare(span: usize) -> Spare {
        Spare {
            base: NonNull::dangling(),
            span,
        }
    }

    const MIB: usize = 1 << 20;

    #[test]
    fn a_spare_is_reused_only_for_a_block_it_fits_without_much_waste() {
        let mut spares = Spares::new(64 * MIB);
        assert!(spares.keep(spare(8 * MIB)).is_empty());
        assert!(spares.keep(spare(4 * MIB)).is_empty());
        assert_eq!(spares.bytes, 12 * MIB);
        // Too big for the 4 MiB spare, and the 8 MiB one would waste more
        // than an eighth.
        assert!(spares.take(5 * MIB).is_none());
        // The smallest that fits.
        assert_eq!(spares.take(4 * MIB - 4096).map(|s| s.span), Some(4 * MIB));
        assert_eq!(spares.take(8 * MIB).map(|s| s.span), Some(8 * MIB));
        assert_eq!(spares.bytes, 0);
        assert!(spares.take(8 * MIB).is_none());
    }

    #[test]
    fn small_blocks_are_not_kept_and_big_ones_push_out_the_oldest() {
        let mut spares = Spares::new(10 * MIB);
        assert_eq!(spares.keep(spare(SPARE_MIN - 64)).len(), 1);
        assert!(spares.take(SPARE_MIN - 64).is_none());
        assert_eq!(spares.keep(spare(11 * MIB)).len(), 1);
        assert!(spares.keep(spare(4 * MIB)).is_empty());
        assert!(spares.keep(spare(5 * MIB)).is_empty());
        let out = spares.keep(spare(3 * MIB));
        assert_eq!(out.iter().map(|s| s.span).collect::<Vec<_>>(), [4 * MIB]);
        assert_eq!(spares.bytes, 8 * MIB);
        assert!(spares.bytes <= spares.max);
    }
}
