//! Every heap block is zeroed when it is freed. The wrapper's only copies of a secret outside the
//! secret store are transient heap buffers (the TLS record and plaintext buffers inside rustls, the
//! HTTP response, an expanded argument): wiping on free covers them all, including the ones inside
//! crates we do not control, without a second code path per buffer. Realloc goes through alloc +
//! copy + dealloc (the GlobalAlloc default), so a grown buffer leaves no stale copy behind either.
use std::alloc::{GlobalAlloc, Layout, System};

extern "C" {
    // glibc >= 2.25 and musl: a memset the compiler may not drop as a dead store before free.
    fn explicit_bzero(s: *mut libc::c_void, n: usize);
}

pub fn wipe(ptr: *mut u8, len: usize) {
    if len > 0 {
        unsafe { explicit_bzero(ptr.cast(), len) }
    }
}

pub struct Zeroing;

unsafe impl GlobalAlloc for Zeroing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        wipe(ptr, layout.size());
        System.dealloc(ptr, layout)
    }
}
