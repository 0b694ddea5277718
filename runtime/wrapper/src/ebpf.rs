//! Registration with the node's eBPF agent (cloudtaser.io/ebpf -> CLOUDTASER_EBPF), before the app
//! is spawned, so the app is protected from its first instruction (docs/ebpf.md, *Registration
//! protocol*): one line each way over the agent's Unix socket, `REGISTER\n` ->
//! `OK <pid> enforce|detect|degraded\n` or `ERR <CODE> <message>\n`. The agent takes the caller
//! from SO_PEERCRED, so a registration can only ever protect the wrapper itself (and, by
//! inheritance, what it starts); that is why any user may connect, and a wrapper in a non-root
//! container registers like one running as root. Fail closed by default: the app does not start
//! unless the agent confirms enforcement; cloudtaser.io/ebpf-fail: open starts it anyway and logs
//! why.
use crate::error::{Error, Result, EXIT_UNAVAILABLE};
use crate::log::{log, F};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/run/cloudtaser/ebpf.sock";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Off,
    On { fail_open: bool },
}

impl Mode {
    /// The annotation values as lib/ebpf/register.ts reads them (case and spaces ignored).
    pub fn from_env(ebpf: Option<&str>, fail: Option<&str>) -> Result<Mode> {
        let fail_open = match fail.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("closed") => false,
            Some("open") => true,
            Some(other) => return Err(Error::config(format!("CLOUDTASER_EBPF_FAIL=\"{other}\" must be open or closed (annotation cloudtaser.io/ebpf-fail)"))),
        };
        Ok(if ebpf.is_some_and(|e| e.trim().eq_ignore_ascii_case("true")) { Mode::On { fail_open } } else { Mode::Off })
    }
}

fn request(socket: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"REGISTER\n")?;
    let mut line = Vec::new();
    let mut b = [0u8; 256];
    while !line.contains(&b'\n') {
        let n = s.read(&mut b)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the agent closed the connection without a reply"));
        }
        line.extend_from_slice(&b[..n]);
        if line.len() > 4096 {
            return Err(std::io::Error::other("reply too long"));
        }
    }
    let end = line.iter().position(|&c| c == b'\n').unwrap_or(line.len());
    Ok(String::from_utf8_lossy(&line[..end]).into_owned())
}

/// What the agent's answer means for us: Ok(our pid as the agent sees it, the node's pid) when
/// enforcing, else the refusal.
fn judge(socket: &str, reply: std::io::Result<String>) -> std::result::Result<i64, Error> {
    let line = reply.map_err(|e| {
        Error::new("EBPF_UNAVAILABLE", EXIT_UNAVAILABLE, format!("cannot reach the eBPF agent at {socket}: {e}"))
            .hint("Is the cloudtaser eBPF agent running on this node and its socket mounted into the pod? To start without kernel protection, set cloudtaser.io/ebpf-fail: open.")
    })?;
    let parts: Vec<&str> = line.trim().splitn(3, ' ').collect();
    match parts.as_slice() {
        ["OK", pid, "enforce"] if pid.parse::<i64>().is_ok() => Ok(pid.parse().unwrap()),
        ["OK", _, mode @ ("detect" | "degraded")] => {
            let (code, why) = if *mode == "detect" {
                ("EBPF_NOT_ENFORCING", "the eBPF agent runs in detect mode: accesses are logged, not blocked")
            } else {
                ("EBPF_DEGRADED", "the eBPF agent runs degraded: this kernel cannot enforce (see the agent log)")
            };
            Err(Error::new(code, EXIT_UNAVAILABLE, why).hint("Fix the node (bpf in the active LSM list, BTF present) or set cloudtaser.io/ebpf-fail: open to start anyway."))
        }
        ["ERR", rest @ ..] => Err(Error::new("EBPF_REGISTER_FAILED", EXIT_UNAVAILABLE, format!("the eBPF agent refused registration: {}", rest.join(" ")))),
        _ => Err(Error::new("EBPF_REGISTER_FAILED", EXIT_UNAVAILABLE, format!("unexpected reply from the eBPF agent: {:?}", line.chars().take(200).collect::<String>()))),
    }
}

pub fn register(mode: Mode, socket: &str) -> Result<()> {
    let Mode::On { fail_open } = mode else { return Ok(()) };
    match judge(socket, request(socket)) {
        Ok(pid) => {
            log("info", "ebpf_registered", &[("mode", F::S("enforce")), ("nodePid", F::N(pid))]);
            Ok(())
        }
        Err(e) if fail_open => {
            log("warn", "ebpf_unprotected", &[("code", F::S(e.code)), ("reason", F::S(&e.message)), ("failMode", F::S("open"))]);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations() {
        assert_eq!(Mode::from_env(None, None).unwrap(), Mode::Off);
        assert_eq!(Mode::from_env(Some(" TRUE "), None).unwrap(), Mode::On { fail_open: false });
        assert_eq!(Mode::from_env(Some("true"), Some("open")).unwrap(), Mode::On { fail_open: true });
        assert_eq!(Mode::from_env(Some("false"), Some("closed")).unwrap(), Mode::Off);
        assert!(Mode::from_env(Some("true"), Some("maybe")).is_err());
    }

    #[test]
    fn replies() {
        let j = |l: &str| judge("/s", Ok(l.to_string()));
        assert_eq!(j("OK 42 enforce").unwrap(), 42);
        assert_eq!(j("OK 42 degraded").unwrap_err().code, "EBPF_DEGRADED");
        assert_eq!(j("OK 42 detect").unwrap_err().code, "EBPF_NOT_ENFORCING");
        assert_eq!(j("ERR EBPF_REGISTER_FAILED no such process").unwrap_err().message, "the eBPF agent refused registration: EBPF_REGISTER_FAILED no such process");
        assert_eq!(j("hello").unwrap_err().code, "EBPF_REGISTER_FAILED");
        let e = judge("/s", Err(std::io::Error::from(std::io::ErrorKind::NotFound))).unwrap_err();
        assert_eq!((e.code, e.exit), ("EBPF_UNAVAILABLE", 5));
    }
}
