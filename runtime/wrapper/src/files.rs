//! Secrets delivered as files (CLOUDTASER_FILE_MAP, from the annotation cloudtaser.io/file-map):
//! a Secret the workload mounted as a volume becomes files at the same mount path, on a
//! memory-backed emptyDir the webhook mounts there. Written before the app starts, with the
//! recorded modes and ownership, and replaced atomically on rotation the way the kubelet's atomic
//! writer does: the files live in a fresh `..<timestamp>` directory, `..data` is a symlink to it
//! swapped with rename(2), and each visible name is a symlink through `..data`. Values go from the
//! response straight into the file (unescaped piece by piece, no buffer of ours in between).
use crate::bao::{Bao, Session};
use crate::error::{Error, Result, EXIT_CONFIG};
use crate::json::{self, Node};
use crate::base64::{invalid, Base64Fields};
use crate::secrets::{put_value_with, read, Read};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub field: String,
    /// Relative path under the mount (may hold `/`), as a Secret volume's `items[].path`.
    pub file: String,
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSecret {
    /// KV v2 API path.
    pub path: String,
    pub mount_path: String,
    /// Empty: every field, as a file named after it.
    pub items: Vec<Item>,
    pub default_mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

fn bad(m: String) -> Error {
    Error::config(format!("CLOUDTASER_FILE_MAP: {m}"))
}

/// A file name under the mount: relative, no `..`, not starting with `..` (the writer's own names).
fn check_file(f: &str) -> Result<()> {
    let p = Path::new(f);
    let ok = !f.is_empty() && !f.starts_with("..") && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("\"{f}\" is not a relative file path without \"..\"")))
    }
}

fn mode_of(n: Option<&Node>, b: &[u8], what: &str) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) => match n.int(b) {
            Some(m) if (0..=0o777).contains(&m) => Ok(Some(m as u32)),
            _ => Err(bad(format!("{what} must be a file mode between 0 and 0777 (decimal in JSON, e.g. 420 for 0644)"))),
        },
    }
}

fn id_of(n: Option<&Node>, b: &[u8], what: &str) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) => match n.int(b) {
            Some(v) if (0..=u32::MAX as i64).contains(&v) => Ok(Some(v as u32)),
            _ => Err(bad(format!("{what} must be a number"))),
        },
    }
}

/// `[{"path","mountPath","items":[{"field","file","mode"}],"defaultMode","uid","gid"}]`.
pub fn parse(text: Option<&str>) -> Result<Vec<FileSecret>> {
    let Some(text) = text else { return Ok(vec![]) };
    let b = text.as_bytes();
    let root = json::parse(b).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Node::Arr(entries, ..) = root else { return Err(bad("must be a JSON array".into())) };
    let mut out: Vec<FileSecret> = Vec::new();
    for e in &entries {
        let s = |k: &str| e.get(k).and_then(|n| n.string(b));
        let path = s("path").filter(|p| !p.is_empty()).ok_or_else(|| bad("every entry needs \"path\" (a KV v2 API path)".into()))?;
        let mount_path = s("mountPath").filter(|m| m.starts_with('/')).ok_or_else(|| bad(format!("{path}: \"mountPath\" must be an absolute path")))?;
        if out.iter().any(|f| f.mount_path == mount_path) {
            return Err(bad(format!("mountPath {mount_path} appears twice")));
        }
        let mut items = Vec::new();
        match e.get("items") {
            None => {}
            Some(Node::Arr(list, ..)) => {
                for i in list {
                    let field = i.get("field").and_then(|n| n.string(b)).ok_or_else(|| bad(format!("{path}: every item needs \"field\"")))?;
                    let file = i.get("file").and_then(|n| n.string(b)).unwrap_or_else(|| field.clone());
                    check_file(&file)?;
                    items.push(Item { field, file, mode: mode_of(i.get("mode"), b, "mode")? });
                }
            }
            Some(_) => return Err(bad(format!("{path}: \"items\" must be an array"))),
        }
        out.push(FileSecret {
            path,
            mount_path,
            items,
            default_mode: mode_of(e.get("defaultMode"), b, "defaultMode")?.unwrap_or(0o644),
            uid: id_of(e.get("uid"), b, "uid")?,
            gid: id_of(e.get("gid"), b, "gid")?,
        });
    }
    Ok(out)
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    Error::new("WRAPPER_FILES", EXIT_CONFIG, format!("{what} {}: {e}", p.display()))
        .hint("The webhook mounts a memory-backed emptyDir at each mountPath of cloudtaser.io/file-map; the container's user must be able to write there.")
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in a path")
}

/// Overwrite a file's bytes with zeros before it is unlinked: tmpfs frees the pages without
/// clearing them.
fn shred_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => shred_dir(&p),
            Ok(t) if t.is_file() => {
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&p) {
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    let zeros = vec![0u8; 4096];
                    let mut at = 0;
                    while at < len {
                        let n = (len - at).min(4096) as usize;
                        if std::os::unix::fs::FileExt::write_at(&f, &zeros[..n], at).is_err() {
                            break;
                        }
                        at += n as u64;
                    }
                    let _ = f.sync_data();
                }
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Write one secret's files into a new `..<time>` directory and swap `..data` to it.
fn write_one(f: &FileSecret, r: &Read, base64: &Base64Fields) -> Result<usize> {
    let mount = Path::new(&f.mount_path);
    let fields = r.fields();
    let items: Vec<Item> = if f.items.is_empty() {
        fields.iter().map(|(name, _)| Item { field: name.to_string(), file: name.to_string(), mode: None }).collect()
    } else {
        f.items.clone()
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let gen = format!("..{}_{:09}", ts.tv_sec, ts.tv_nsec);
    let dir = mount.join(&gen);
    std::fs::create_dir_all(mount).map_err(|e| io_err("cannot create", mount, e))?;
    std::fs::create_dir(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
    let result = (|| -> Result<()> {
        for it in &items {
            check_file(&it.file)?;
            let Some((_, node)) = fields.iter().find(|(n, _)| *n == it.field) else {
                return Err(Error::new("WRAPPER_FIELD_MISSING", EXIT_CONFIG, format!("secret {} has no field \"{}\" (file {} under {})", r.path, it.field, it.file, f.mount_path))
                    .hint("Add the field in OpenBao or fix cloudtaser.io/file-map."));
            };
            let target = dir.join(&it.file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
            }
            let mode = it.mode.unwrap_or(f.default_mode);
            let fd = unsafe { libc::open(cpath(&target).as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW, 0o600) };
            if fd < 0 {
                return Err(io_err("cannot create", &target, std::io::Error::last_os_error()));
            }
            let mut failed = None;
            let decoded = put_value_with(&r.resp.body, node, base64.has(&r.path, &it.field), &mut |piece: &[u8]| {
                let mut p = piece;
                while !p.is_empty() && failed.is_none() {
                    let n = unsafe { libc::write(fd, p.as_ptr().cast(), p.len()) };
                    if n < 0 {
                        failed = Some(std::io::Error::last_os_error());
                    } else {
                        p = &p[n as usize..];
                    }
                }
            });
            let owned = (f.uid.is_none() && f.gid.is_none()) || unsafe { libc::fchown(fd, f.uid.unwrap_or(u32::MAX), f.gid.unwrap_or(u32::MAX)) } == 0;
            let chmod = unsafe { libc::fchmod(fd, mode) } == 0;
            unsafe { libc::close(fd) };
            if let Some(e) = failed {
                return Err(io_err("cannot write", &target, e));
            }
            if !decoded {
                return Err(invalid(&r.path, &it.field));
            }
            if !owned || !chmod {
                return Err(io_err("cannot set the owner or mode of", &target, std::io::Error::last_os_error()));
            }
        }
        if f.uid.is_some() || f.gid.is_some() {
            let c = cpath(&dir);
            unsafe { libc::chown(c.as_ptr(), f.uid.unwrap_or(u32::MAX), f.gid.unwrap_or(u32::MAX)) };
        }
        Ok(())
    })();
    if let Err(e) = result {
        shred_dir(&dir);
        return Err(e);
    }
    // The swap: ..data_tmp -> ..<gen>, renamed over ..data (atomic for readers going through it).
    let data = mount.join("..data");
    let old = std::fs::read_link(&data).ok();
    let tmp = mount.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&gen, &tmp).map_err(|e| io_err("cannot link", &tmp, e))?;
    std::fs::rename(&tmp, &data).map_err(|e| io_err("cannot swap", &data, e))?;
    // Visible names: a symlink per top-level entry through ..data, made once.
    for it in &items {
        let top = Path::new(&it.file).components().next().map(|c| PathBuf::from(c.as_os_str())).unwrap_or_default();
        let link = mount.join(&top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(&top), &link).map_err(|e| io_err("cannot link", &link, e))?;
        }
    }
    if let Some(old) = old {
        if old != Path::new(&gen) && old.as_os_str().as_bytes().starts_with(b"..") {
            shred_dir(&mount.join(old));
        }
    }
    Ok(items.len())
}

/// Read and write every file secret; the KV versions in order.
pub fn deliver(bao: &Bao, s: &Session, files: &[FileSecret], base64: &Base64Fields) -> Result<Vec<i64>> {
    let mut versions = Vec::with_capacity(files.len());
    let mut count = 0;
    for f in files {
        let r = read(bao, s, &f.path)?;
        count += write_one(f, &r, base64)?;
        versions.push(r.version());
    }
    if !files.is_empty() {
        crate::log::log("info", "files_written", &[("mounts", crate::log::F::N(files.len() as i64)), ("files", crate::log::F::N(count as i64))]);
    }
    Ok(versions)
}

/// Versions by reading (the fallback when the token may not read KV metadata).
pub fn versions_by_read(bao: &Bao, s: &Session, files: &[FileSecret]) -> Result<Vec<i64>> {
    files.iter().map(|f| read(bao, s, &f.path).map(|r| r.version())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_map_grammar() {
        assert_eq!(parse(None).unwrap(), vec![]);
        let f = parse(Some(r#"[{"path":"secret/data/app/tls","mountPath":"/etc/tls","items":[{"field":"tls.crt","file":"certs/tls.crt","mode":256},{"field":"key"}],"defaultMode":384,"uid":1000}]"#)).unwrap();
        assert_eq!(f[0].items[0], Item { field: "tls.crt".into(), file: "certs/tls.crt".into(), mode: Some(0o400) });
        assert_eq!(f[0].items[1].file, "key");
        assert_eq!((f[0].default_mode, f[0].uid, f[0].gid), (0o600, Some(1000), None));
        for bad in [
            "{}",
            r#"[{"mountPath":"/x"}]"#,
            r#"[{"path":"p","mountPath":"x"}]"#,
            r#"[{"path":"p","mountPath":"/x","items":[{"field":"a","file":"../a"}]}]"#,
            r#"[{"path":"p","mountPath":"/x","items":[{"field":"a","file":"..data"}]}]"#,
            r#"[{"path":"p","mountPath":"/x","items":[{"field":"a","file":"/abs"}]}]"#,
            r#"[{"path":"p","mountPath":"/x","defaultMode":512}]"#,
            r#"[{"path":"p","mountPath":"/x"},{"path":"q","mountPath":"/x"}]"#,
        ] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
