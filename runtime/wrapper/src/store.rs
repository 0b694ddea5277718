//! Where secret values live: one mapping per fetched generation, holding each entry as a complete
//! environment string `NAME=value\0`, so the child's envp points straight into it. Memory, first
//! that works: memfd_secret(2) (out of the kernel's direct map, never swapped or dumped, unreadable
//! even to root through /proc/<pid>/mem), else anonymous memory mlock'ed, else plain; always
//! MADV_DONTDUMP and MADV_DONTFORK. Wiped and unmapped on drop.
use std::ptr;

const SYS_MEMFD_SECRET: libc::c_long = 447;

pub struct Store {
    base: *mut u8,
    size: usize,
    len: usize,
    /// (start of NAME, length of NAME, end of value) for each entry.
    entries: Vec<(usize, usize, usize)>,
    open: Option<usize>,
    pub memory: &'static str,
    pub detail: Option<String>,
}

// The mapping is owned by exactly one Store and only ever touched through &mut or after the spawn.
unsafe impl Send for Store {}

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Whether this kernel gives memfd_secret memory (for the start log).
pub fn probe_memfd_secret() -> Result<(), String> {
    let fd = unsafe { libc::syscall(SYS_MEMFD_SECRET, libc::O_CLOEXEC as libc::c_long) };
    if fd < 0 {
        return Err(errno());
    }
    unsafe { libc::close(fd as i32) };
    Ok(())
}

fn secret_map(size: usize) -> Result<*mut u8, String> {
    let fd = unsafe { libc::syscall(SYS_MEMFD_SECRET, libc::O_CLOEXEC as libc::c_long) };
    if fd < 0 {
        return Err(format!("memfd_secret: {}", errno()));
    }
    let fd = fd as i32;
    let r = unsafe {
        if libc::ftruncate(fd, size as libc::off_t) != 0 {
            Err(format!("memfd_secret ftruncate: {}", errno()))
        } else {
            let p = libc::mmap(ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            if p == libc::MAP_FAILED {
                Err(format!("memfd_secret mmap: {}", errno()))
            } else {
                Ok(p.cast())
            }
        }
    };
    unsafe { libc::close(fd) };
    r
}

impl Store {
    pub fn new(capacity: usize) -> Store {
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let size = capacity.max(1).div_ceil(page) * page;
        let (base, memory, detail) = match secret_map(size) {
            Ok(p) => (p, "memfd_secret", None),
            Err(why) => unsafe {
                let p = libc::mmap(ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                if p == libc::MAP_FAILED {
                    // Nothing else to fall back to: the start fails with the reason.
                    crate::log::log("error", "store_failed", &[("error", crate::log::F::S(&errno()))]);
                    libc::_exit(70);
                }
                if libc::mlock(p, size) == 0 {
                    (p.cast(), "mlock", Some(why))
                } else {
                    (p.cast(), "mmap", Some(format!("{why}; mlock: {}", errno())))
                }
            },
        };
        unsafe {
            libc::madvise(base.cast(), size, libc::MADV_DONTDUMP);
            libc::madvise(base.cast(), size, libc::MADV_DONTFORK);
        }
        Store { base, size, len: 0, entries: Vec::new(), open: None, memory, detail }
    }

    fn push(&mut self, b: &[u8]) {
        // Capacity is computed from the response spans and unescaping only shrinks: cannot overflow.
        assert!(self.len + b.len() <= self.size, "secret store overflow");
        unsafe { ptr::copy_nonoverlapping(b.as_ptr(), self.base.add(self.len), b.len()) };
        self.len += b.len();
    }

    /// Start an entry `NAME=`; the value follows through `value`, then `end`.
    pub fn begin(&mut self, name: &[u8]) {
        self.open = Some(self.len);
        self.push(name);
        self.push(b"=");
    }

    pub fn value(&mut self, piece: &[u8]) {
        self.push(piece);
    }

    /// Close the entry; false (and the entry dropped, its bytes wiped) when the value held a NUL.
    pub fn end(&mut self, name_len: usize) -> bool {
        let start = self.open.take().expect("begin first");
        let v = unsafe { std::slice::from_raw_parts(self.base.add(start + name_len + 1), self.len - start - name_len - 1) };
        if v.contains(&0) {
            crate::alloc::wipe(unsafe { self.base.add(start) }, self.len - start);
            self.len = start;
            return false;
        }
        let end = self.len;
        self.push(&[0]);
        self.entries.push((start, name_len, end));
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn name(&self, i: usize) -> &[u8] {
        let (s, n, _) = self.entries[i];
        unsafe { std::slice::from_raw_parts(self.base.add(s), n) }
    }

    pub fn value_of(&self, i: usize) -> &[u8] {
        let (s, n, e) = self.entries[i];
        unsafe { std::slice::from_raw_parts(self.base.add(s + n + 1), e - s - n - 1) }
    }

    pub fn find(&self, name: &[u8]) -> Option<&[u8]> {
        (0..self.len()).find(|&i| self.name(i) == name).map(|i| self.value_of(i))
    }

    /// Pointer to entry i's `NAME=value\0`, for an envp.
    pub fn env_ptr(&self, i: usize) -> *const libc::c_char {
        unsafe { self.base.add(self.entries[i].0).cast() }
    }

    /// Zero and unmap; idempotent.
    pub fn wipe(&mut self) {
        if !self.base.is_null() {
            crate::alloc::wipe(self.base, self.size);
            unsafe { libc::munmap(self.base.cast(), self.size) };
            self.base = ptr::null_mut();
            self.entries.clear();
            self.len = 0;
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.wipe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_environment_strings() {
        let mut s = Store::new(64);
        s.begin(b"A");
        s.value(b"x");
        s.value(b"yz");
        assert!(s.end(1));
        s.begin(b"B");
        s.value(b"a\0b");
        assert!(!s.end(1), "a NUL is refused");
        s.begin(b"C");
        assert!(s.end(1));
        assert_eq!(s.len(), 2);
        assert_eq!(s.find(b"A"), Some(&b"xyz"[..]));
        assert_eq!(s.find(b"C"), Some(&b""[..]));
        let e = unsafe { std::ffi::CStr::from_ptr(s.env_ptr(1)) };
        assert_eq!(e.to_bytes(), b"C=");
        assert!(["memfd_secret", "mlock", "mmap"].contains(&s.memory));
    }

    #[test]
    fn memfd_secret_is_unreadable_through_proc_mem() {
        let mut s = Store::new(16);
        if s.memory != "memfd_secret" {
            eprintln!("no memfd_secret here ({:?}): skipped", s.detail);
            return;
        }
        s.begin(b"K");
        s.value(b"canary");
        s.end(1);
        let addr = s.env_ptr(0) as u64;
        let f = std::fs::File::open("/proc/self/mem").unwrap();
        let mut b = [0u8; 8];
        let r = std::os::unix::fs::FileExt::read_at(&f, &mut b, addr);
        assert!(r.is_err(), "the kernel must refuse reading secret memory through /proc/self/mem");
    }
}
