//! Registration with the node's eBPF agent (cloudtaser.io/ebpf). Not implemented yet in the Rust
//! wrapper: a Pod that asks for it is refused at start (fail closed), unless ebpf-fail says open.
use crate::error::{Error, Result, EXIT_CONFIG};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Off,
    On { fail_open: bool },
}

impl Mode {
    pub fn from_env(ebpf: Option<&str>, fail: Option<&str>) -> Result<Mode> {
        let fail_open = match fail.unwrap_or("closed") {
            "closed" => false,
            "open" => true,
            other => return Err(Error::config(format!("CLOUDTASER_EBPF_FAIL=\"{other}\" must be closed or open"))),
        };
        match ebpf.unwrap_or("false") {
            "false" => Ok(Mode::Off),
            "true" => Ok(Mode::On { fail_open }),
            other => Err(Error::config(format!("CLOUDTASER_EBPF=\"{other}\" must be true or false"))),
        }
    }
}

pub fn register(mode: Mode) -> Result<()> {
    match mode {
        Mode::Off => Ok(()),
        Mode::On { fail_open } => {
            let e = Error::new("WRAPPER_EBPF", EXIT_CONFIG, "eBPF protection was asked for (cloudtaser.io/ebpf) but this wrapper cannot register with the agent yet")
                .hint("Set cloudtaser.io/ebpf-fail: open to start without kernel protection.");
            if fail_open {
                crate::log::error(&e, "ebpf_unprotected");
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
