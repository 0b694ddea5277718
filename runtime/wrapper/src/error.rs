//! Failures with the stable codes and exit codes of lib/errors.ts (0 ok, 3 config, 4 auth,
//! 5 unavailable, 70 internal). A message names paths, fields, roles: never a value or a token.
use std::fmt;

pub const EXIT_CHECK: i32 = 1;
pub const EXIT_CONFIG: i32 = 3;
pub const EXIT_AUTH: i32 = 4;
pub const EXIT_UNAVAILABLE: i32 = 5;

#[derive(Debug, Clone)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub hint: Option<&'static str>,
    pub exit: i32,
}

impl Error {
    pub fn new(code: &'static str, exit: i32, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), hint: None, exit }
    }
    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
    /// Only what a retry can fix: unreachable, 5xx, sealed.
    pub fn transient(&self) -> bool {
        self.exit == EXIT_UNAVAILABLE
    }
    pub fn config(message: impl Into<String>) -> Self {
        Error::new("WRAPPER_CONFIG", EXIT_CONFIG, message)
            .hint("The webhook writes these variables from the cloudtaser.io/* annotations; check the pod template annotations.")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
