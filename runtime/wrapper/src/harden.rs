//! Before any secret is in memory: no core file, no same-user ptrace or /proc/<pid>/mem reads of
//! the wrapper, RLIMIT_CORE 0:0 inherited by the app (which cannot raise it), and orphans of the
//! app adopted when the wrapper is not PID 1 itself.
use crate::log::{log, F};

pub fn harden() {
    let dumpable = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
    let core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let core_ok = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &core) } == 0;
    let pid1 = std::process::id() == 1;
    let subreaper = pid1 || unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
    let memfd = match crate::store::probe_memfd_secret() {
        Ok(()) => "available".to_string(),
        Err(e) => format!("unavailable: {e}"),
    };
    log(
        if dumpable && core_ok { "info" } else { "warn" },
        "hardening",
        &[("dumpable", F::B(!dumpable)), ("coreLimit", F::S(if core_ok { "0:0" } else { "unchanged" })), ("pid1", F::B(pid1)), ("subreaper", F::B(subreaper)), ("memfdSecret", F::S(&memfd))],
    );
}
