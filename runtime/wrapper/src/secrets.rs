//! Read every secret path (KV v2 API paths such as secret/data/app/db) and map fields to variable
//! names (docs/wrapper.md, env-map). Each answer is scanned in place (json.rs) and each value
//! decoded straight from the response bytes into the store; the responses are zeroed when dropped.
use crate::bao::{bad_answer, Bao, Session};
use crate::base64::{invalid, Base64Fields};
use crate::config::{default_name, EnvMapGroup};
use crate::error::{Error, Result, EXIT_CONFIG};
use crate::http::Response;
use crate::json::{self, Node};
use crate::store::Store;

pub struct Fetched {
    pub store: Store,
    /// KV version of each path, in secret-paths order.
    pub versions: Vec<i64>,
}

pub struct Read {
    pub path: String,
    pub resp: Response,
    pub tree: Node,
}

impl Read {
    /// data.data's fields in order, a repeated key keeping its first place and last value (as
    /// JSON.parse does).
    pub fn fields(&self) -> Vec<(&str, &Node)> {
        let mut out: Vec<(&str, &Node)> = Vec::new();
        if let Some(Node::Obj(members, ..)) = self.tree.path(&["data", "data"]) {
            for (k, v) in members {
                match out.iter_mut().find(|(n, _)| *n == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
        }
        out
    }
    pub fn version(&self) -> i64 {
        self.tree.path(&["data", "metadata", "version"]).and_then(|v| v.int(&self.resp.body)).unwrap_or(0)
    }
}

pub fn missing(path: &str) -> Error {
    Error::new("WRAPPER_SECRET_MISSING", EXIT_CONFIG, format!("secret {path} does not exist or has no data (is it a KV v2 path like secret/data/app/db?)"))
        .hint("Write it with `bao kv put`, or fix cloudtaser.io/secret-paths.")
}

/// One KV v2 read, validated: a 404 or a deleted version (data null) is a missing secret.
pub fn read(bao: &Bao, s: &Session, path: &str) -> Result<Read> {
    let resp = bao.read_raw(s, path)?;
    if resp.status == 404 {
        return Err(missing(path));
    }
    let tree = json::parse(&resp.body).map_err(|e| bad_answer(path, e))?;
    if !matches!(tree.path(&["data", "data"]), Some(Node::Obj(..))) {
        return Err(missing(path));
    }
    Ok(Read { path: path.to_string(), resp, tree })
}

/// (variable name, read index, field) in delivery order; a later mapping of a name wins.
pub fn map_fields<'r>(reads: &'r [Read], groups: &[EnvMapGroup]) -> Result<Vec<(String, usize, &'r str, &'r Node)>> {
    let mut out: Vec<(String, usize, &str, &Node)> = Vec::new();
    let empty = EnvMapGroup::default();
    for (i, read) in reads.iter().enumerate() {
        let fields = read.fields();
        let group = groups.get(i).unwrap_or(&empty);
        let mut add = |name: String, field: &'r str, node: &'r Node| -> Result<()> {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(Error::new("WRAPPER_ENV_NAME", EXIT_CONFIG, format!("field \"{field}\" of {} would become the variable name \"{name}\", which holds \"=\" or NUL", read.path))
                    .hint("Map the field to a valid name in cloudtaser.io/env-map."));
            }
            out.retain(|(n, ..)| *n != name);
            out.push((name, i, field, node));
            Ok(())
        };
        let explicit = !group.fields.is_empty() || group.all_with_prefix.is_some();
        if !explicit {
            for (f, n) in &fields {
                add(default_name(f), f, n)?;
            }
        }
        if let Some(prefix) = &group.all_with_prefix {
            for (f, n) in &fields {
                add(format!("{prefix}{f}"), f, n)?;
            }
        }
        for (field, name) in &group.fields {
            let Some((f, n)) = fields.iter().find(|(f, _)| f == field) else {
                return Err(Error::new("WRAPPER_FIELD_MISSING", EXIT_CONFIG, format!("secret {} has no field \"{field}\" (mapped to {name})", read.path))
                    .hint("Add the field in OpenBao or fix cloudtaser.io/env-map."));
            };
            add(name.clone(), f, n)?;
        }
    }
    Ok(out)
}

/// Copy one value into the open store entry: a JSON string unescaped, any other JSON value as
/// the text OpenBao sent.
/// With `base64`, the value's text is decoded (crate::base64); false when it is not valid base64.
pub fn put_value(store: &mut Store, body: &[u8], node: &Node, base64: bool) -> bool {
    put_value_with(body, node, base64, &mut |piece| store.value(piece))
}

/// The same, to any sink (files.rs writes the pieces straight into a file).
pub fn put_value_with(body: &[u8], node: &Node, base64: bool, sink: &mut dyn FnMut(&[u8])) -> bool {
    let (s, e) = node.span();
    if !base64 {
        match node {
            Node::Str(s, e) => json::unescape(&body[*s..*e], sink),
            _ => sink(&body[s..e]),
        }
        return true;
    }
    let Node::Str(s, e) = node else { return false };
    let mut d = crate::base64::Decoder::default();
    json::unescape(&body[*s..*e], &mut |piece| d.push(piece, sink));
    d.finish()
}

/// Read, map and store. With `unless`, an unchanged set of versions returns None before any
/// value is copied.
pub fn fetch(bao: &Bao, s: &Session, paths: &[String], groups: &[EnvMapGroup], base64: &Base64Fields, unless: Option<&[i64]>) -> Result<Option<Fetched>> {
    let reads = paths.iter().map(|p| read(bao, s, p)).collect::<Result<Vec<_>>>()?;
    let versions: Vec<i64> = reads.iter().map(Read::version).collect();
    if unless == Some(&versions[..]) {
        return Ok(None);
    }
    let entries = map_fields(&reads, groups)?;
    let capacity: usize = entries.iter().map(|(name, _, _, n)| name.len() + n.span().1 - n.span().0 + 2).sum();
    let mut store = Store::new(capacity);
    for (name, i, field, node) in &entries {
        store.begin(name.as_bytes());
        if !put_value(&mut store, &reads[*i].resp.body, node, base64.has(&reads[*i].path, field)) {
            store.end(name.len());
            return Err(invalid(&reads[*i].path, field));
        }
        if !store.end(name.len()) {
            return Err(Error::new(
                "WRAPPER_SECRET_NUL",
                EXIT_CONFIG,
                format!("field \"{field}\" of {} (mapped to {name}) holds a NUL character, which an environment variable cannot carry", reads[*i].path),
            )
            .hint("Store the value encoded (base64, hex) and decode it in the application."));
        }
    }
    Ok(Some(Fetched { store, versions }))
}
