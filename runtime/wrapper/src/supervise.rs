//! PID 1 duties. Every catchable signal is blocked in all threads from the start; the main thread
//! takes them one by one with sigwaitinfo: SIGCHLD reaps (the app's status, and every orphan the
//! kernel re-parents to us), anything else is forwarded to the app. The app is our own child and
//! only we reap it, under the same lock as every signal sent to it, so its pid cannot be recycled
//! between the two: plain kill is exact, no pidfd needed. The poll thread restarts the app through
//! `restart`, which waits on the main thread's reaping.
use crate::log::{log, F};
use crate::store::Store;
use std::ffi::CString;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Fault signals stay unblocked (a fault in the wrapper must kill it, not hang it).
const SYNCHRONOUS: &[i32] = &[libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGSYS];

pub fn caught_set() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in SYNCHRONOUS {
            libc::sigdelset(&mut set, *s);
        }
        set
    }
}

/// Block everything catchable; SIGPIPE back to default (Rust ignores it, and an ignored signal
/// is discarded rather than queued for us to forward).
pub fn block_signals() {
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let set = caught_set();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Sleep up to `d`, unless a signal that ends the wrapper arrives first: before the app runs
/// there is nobody to forward SIGTERM to, so it stops the start. Returns that signal.
pub fn sleep_or_signal(d: Duration) -> Option<i32> {
    let set = caught_set();
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ts = libc::timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ };
        let s = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
        if [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&s) {
            return Some(s);
        }
        if s == libc::SIGCHLD {
            reap_orphans();
        }
    }
}

fn reap_orphans() {
    let mut st = 0;
    while unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } > 0 {}
}

pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        70
    }
}

struct Sup {
    pid: i32,
    restarting: bool,
    stopped: bool,
    restart_status: Option<i32>,
}

static SUP: Mutex<Sup> = Mutex::new(Sup { pid: 0, restarting: false, stopped: false, restart_status: None });
static CV: Condvar = Condvar::new();

/// The program, its argv and the non-secret part of its environment (already without our
/// settings and without the names the secrets set).
pub struct Launch {
    pub argv: Vec<CString>,
    pub base_env: Vec<CString>,
}

/// posix_spawnp (musl and glibc: clone(CLONE_VM|CLONE_VFORK), so the envp may point into the
/// store, which is MADV_DONTFORK and shared only with a child that execs at once). Every signal
/// back to its default and none blocked in the child. Err: the errno of a failed exec.
pub fn spawn(l: &Launch, store: Option<&Store>) -> Result<i32, i32> {
    let mut envp: Vec<*const libc::c_char> = l.base_env.iter().map(|c| c.as_ptr()).collect();
    if let Some(s) = store {
        envp.extend((0..s.len()).map(|i| s.env_ptr(i)));
    }
    envp.push(std::ptr::null());
    let mut argv: Vec<*mut libc::c_char> = l.argv.iter().map(|c| c.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::posix_spawnattr_setsigmask(&mut attr, &none);
        libc::posix_spawnattr_setsigdefault(&mut attr, &all);
        libc::posix_spawnattr_setflags(&mut attr, (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as _);
        let mut pid = 0;
        let r = libc::posix_spawnp(&mut pid, argv[0], std::ptr::null(), &attr, argv.as_ptr(), envp.as_ptr() as *const *mut _);
        libc::posix_spawnattr_destroy(&mut attr);
        if r != 0 {
            Err(r)
        } else {
            Ok(pid)
        }
    }
}

pub fn set_child(pid: i32) {
    SUP.lock().unwrap().pid = pid;
}

pub fn current_pid() -> i32 {
    SUP.lock().unwrap().pid
}

fn finish(code: i32) -> ! {
    log("info", "child_exited", &[("code", F::N(code as i64))]);
    unsafe { libc::_exit(code) }
}

/// The main thread from the first spawn on: never returns.
pub fn run_main_loop() -> ! {
    let set = caught_set();
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                let mut s = SUP.lock().unwrap();
                if pid != s.pid {
                    continue; // an orphan: reaped, nothing more to do
                }
                let code = exit_code(status);
                s.pid = 0;
                if s.restarting && !s.stopped {
                    s.restart_status = Some(code);
                    CV.notify_all();
                } else {
                    finish(code);
                }
            }
            continue;
        }
        let mut s = SUP.lock().unwrap();
        // A termination signal during a restart still has to stop everything.
        if [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig) {
            s.stopped = true;
        }
        if s.pid > 0 {
            unsafe { libc::kill(s.pid, sig) };
        } else if s.stopped && !s.restarting {
            finish(128 + sig);
        }
    }
}

/// SIGTERM every process re-parented to us (the old app's descendants: we are their subreaper),
/// SIGKILL what is left after `grace`; returns once none is left. The lock is released while
/// waiting, so the main thread can reap them.
fn stop_leftovers<'a>(mut s: std::sync::MutexGuard<'a, Sup>, grace: Duration) -> std::sync::MutexGuard<'a, Sup> {
    let deadline = Instant::now() + grace;
    let mut termed = std::collections::HashSet::new();
    let mut killed = false;
    loop {
        let left = children_of(unsafe { libc::getpid() });
        if left.is_empty() {
            break;
        }
        let late = Instant::now() >= deadline;
        for pid in &left {
            if late || termed.insert(*pid) {
                unsafe { libc::kill(*pid, if late { libc::SIGKILL } else { libc::SIGTERM }) };
            }
        }
        if late && !killed {
            killed = true;
            log("warn", "leftovers_killed", &[("processes", F::N(left.len() as i64))]);
        }
        s = CV.wait_timeout(s, Duration::from_millis(20)).unwrap().0;
    }
    if !termed.is_empty() {
        log("info", "leftovers_stopped", &[("processes", F::N(termed.len() as i64))]);
    }
    s
}

/// Live (not zombie) processes whose parent is `parent`, from /proc/PID/stat.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        if state != "Z" && state != "X" && f.next().and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Send a signal to the app (SIGHUP on a change).
pub fn signal(sig: i32) {
    let s = SUP.lock().unwrap();
    if s.pid > 0 {
        unsafe { libc::kill(s.pid, sig) };
    }
}

/// Stop the app (SIGTERM, SIGKILL after `grace`) and start it again through `start`, which
/// spawns and returns the new pid. False when the wrapper is stopping instead.
pub fn restart(grace: Duration, start: impl FnOnce() -> Result<i32, i32>) -> bool {
    let mut s = SUP.lock().unwrap();
    if s.stopped || s.pid == 0 {
        return false;
    }
    s.restarting = true;
    unsafe { libc::kill(s.pid, libc::SIGTERM) };
    let old = s.pid;
    let deadline = Instant::now() + grace;
    let mut killed = false;
    while s.restart_status.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && !killed {
            unsafe { libc::kill(old, libc::SIGKILL) };
            killed = true;
        }
        s = CV.wait_timeout(s, if killed { Duration::from_secs(1) } else { left }).unwrap().0;
        if s.stopped && s.restart_status.is_none() && s.pid == 0 {
            break;
        }
    }
    let code = s.restart_status.take().unwrap_or(143);
    // What the app left running (an entrypoint script that did not exec leaves its server
    // behind, holding the port the new one needs) goes too, before the new generation starts.
    s = stop_leftovers(s, grace);
    s.restarting = false;
    if s.stopped {
        drop(s);
        finish(code);
    }
    match start() {
        Ok(pid) => {
            s.pid = pid;
            true
        }
        Err(errno) => {
            drop(s);
            log("error", "exec_failed", &[("errno", F::N(errno as i64)), ("error", F::S(&std::io::Error::from_raw_os_error(errno).to_string()))]);
            finish(127);
        }
    }
}
