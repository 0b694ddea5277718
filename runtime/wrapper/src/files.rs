//! Secrets delivered as files (CLOUDTASER_FILE_MAP). Not implemented yet.
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct FileSecret;

pub fn parse(text: Option<&str>) -> Result<Vec<FileSecret>> {
    match text {
        None => Ok(vec![]),
        Some(_) => Err(Error::config("CLOUDTASER_FILE_MAP is not supported by this wrapper yet")),
    }
}
