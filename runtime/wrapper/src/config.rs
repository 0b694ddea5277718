//! The wrapper's settings: only CLOUDTASER_* variables, written by the webhook from the
//! pod-template annotations (docs/wrapper.md, *Settings*). Settings, never values: the one
//! credential, a token for token auth, is stripped from the child's environment like the rest.
use crate::error::{Error, Result};
use crate::json::{self, Node};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

pub const SA_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnChange {
    Restart,
    Sighup,
    None,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct EnvMapGroup {
    /// (field, variable) in the order written; a field read under several names appears once per name.
    pub fields: Vec<(String, String)>,
    pub all_with_prefix: Option<String>,
}

#[derive(Debug)]
pub struct Config {
    pub command: Vec<Vec<u8>>,
    pub vault_addr: String,
    pub token_auth: bool,
    /// Mount of the kubernetes auth method, without `auth/`.
    pub auth_mount: String,
    pub role: String,
    pub token: Option<String>,
    pub token_file: String,
    pub ca_file: Option<String>,
    pub secret_paths: Vec<String>,
    pub env_map: Vec<EnvMapGroup>,
    pub on_change: OnChange,
    pub start_deadline_ms: u64,
    pub poll_interval_ms: u64,
    pub files: Vec<crate::files::FileSecret>,
    pub base64_fields: crate::base64::Base64Fields,
    pub ebpf: crate::ebpf::Mode,
    pub ebpf_socket: String,
}

/// `VAR` set and not empty, as `env.VAR || undefined` reads it.
pub fn setting(env: &[(OsString, OsString)], name: &str) -> Option<String> {
    env.iter().rev().find(|(k, _)| k.as_bytes() == name.as_bytes()).map(|(_, v)| v.to_string_lossy().into_owned()).filter(|v| !v.is_empty())
}

pub fn duration_ms(v: Option<String>, dflt: u64, name: &str) -> Result<u64> {
    let Some(v) = v else { return Ok(dflt) };
    let t = v.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = t.split_at(digits);
    let mult = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        _ => 0,
    };
    match n.parse::<u64>() {
        Ok(n) if digits > 0 && mult > 0 => Ok(n.saturating_mul(mult)),
        _ => Err(Error::config(format!("{name}=\"{v}\" is not a duration like 30s, 500ms or 2m"))),
    }
}

/// The env-map annotation (lib/annotations.ts parseEnvMap): `;` separates groups (one per secret
/// path, in order), `,` entries; `field=ENV`, or `*=PREFIX` for every field as PREFIX + name.
pub fn parse_env_map(text: &str) -> std::result::Result<Vec<EnvMapGroup>, String> {
    if text.trim().is_empty() {
        return Ok(vec![]);
    }
    text.split(';')
        .map(|group| {
            let mut g = EnvMapGroup::default();
            for entry in group.split(',') {
                let e = entry.trim();
                if e.is_empty() {
                    continue;
                }
                let eq = e.find('=').unwrap_or(0);
                if eq == 0 {
                    return Err(format!("env-map entry \"{e}\" is not field=ENV"));
                }
                let field = e[..eq].trim();
                let env = e[eq + 1..].trim();
                if field == "*" {
                    g.all_with_prefix = Some(env.to_string());
                } else if env.is_empty() {
                    return Err(format!("env-map entry \"{e}\" has no variable name"));
                } else {
                    // A field may repeat: a key the workload read under two names sets both.
                    g.fields.push((field.to_string(), env.to_string()));
                }
            }
            Ok(g)
        })
        .collect()
}

pub fn parse_secret_paths(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

pub fn parse_command(text: Option<&str>) -> Result<Vec<Vec<u8>>> {
    let missing = || Error::config("CLOUDTASER_ORIGINAL_CMD is missing or not a JSON array of strings");
    let text = text.ok_or_else(missing)?;
    let b = text.as_bytes();
    let node = json::parse(b).map_err(|_| missing())?;
    let bad = || Error::config("CLOUDTASER_ORIGINAL_CMD must be a non-empty JSON array of strings");
    match node {
        Node::Arr(items, ..) if !items.is_empty() => items.iter().map(|n| n.string(b).map(String::into_bytes).ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}

pub fn read(env: &[(OsString, OsString)]) -> Result<Config> {
    let get = |n: &str| setting(env, n);
    let command = parse_command(get("CLOUDTASER_ORIGINAL_CMD").as_deref())?;
    let vault_addr = get("CLOUDTASER_VAULT_ADDR").unwrap_or_default().trim_end_matches('/').to_string();
    let rest = vault_addr.strip_prefix("https://").or_else(|| vault_addr.strip_prefix("http://"));
    if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
        return Err(Error::config(format!("CLOUDTASER_VAULT_ADDR=\"{vault_addr}\" is not an http(s) URL")));
    }
    let method = get("CLOUDTASER_VAULT_AUTH_METHOD").unwrap_or_else(|| "kubernetes".into());
    if method != "kubernetes" && method != "token" {
        return Err(Error::config(format!("CLOUDTASER_VAULT_AUTH_METHOD=\"{method}\" must be kubernetes or token")));
    }
    let token_auth = method == "token";
    let role = get("CLOUDTASER_VAULT_ROLE").unwrap_or_default();
    if !token_auth && role.is_empty() {
        return Err(Error::config("kubernetes auth needs CLOUDTASER_VAULT_ROLE (annotation cloudtaser.io/vault-role)"));
    }
    let token = get("CLOUDTASER_VAULT_TOKEN");
    if token_auth && token.is_none() {
        return Err(Error::config("token auth needs CLOUDTASER_VAULT_TOKEN"));
    }
    let secret_paths = parse_secret_paths(&get("CLOUDTASER_SECRET_PATHS").unwrap_or_default());
    let files = crate::files::parse(get("CLOUDTASER_FILE_MAP").as_deref())?;
    if secret_paths.is_empty() && files.is_empty() {
        return Err(Error::config("CLOUDTASER_SECRET_PATHS names no secret"));
    }
    let env_map = parse_env_map(&get("CLOUDTASER_ENV_MAP").unwrap_or_default()).map_err(|e| Error::config(format!("CLOUDTASER_ENV_MAP: {e}")))?;
    if env_map.len() > secret_paths.len() {
        return Err(Error::config(format!("CLOUDTASER_ENV_MAP has {} groups for {} secret paths", env_map.len(), secret_paths.len())));
    }
    let on_change = match get("CLOUDTASER_ON_SECRET_CHANGE").as_deref().unwrap_or("restart") {
        "restart" => OnChange::Restart,
        "sighup" => OnChange::Sighup,
        "none" => OnChange::None,
        other => return Err(Error::config(format!("CLOUDTASER_ON_SECRET_CHANGE=\"{other}\" must be restart, sighup or none"))),
    };
    let mount = get("CLOUDTASER_VAULT_AUTH_PATH").unwrap_or_else(|| "kubernetes".into());
    let mount = mount.strip_prefix('/').unwrap_or(&mount);
    let mount = mount.strip_prefix("auth/").unwrap_or(mount).trim_end_matches('/').to_string();
    Ok(Config {
        command,
        vault_addr,
        token_auth,
        auth_mount: mount,
        role,
        token,
        token_file: get("CLOUDTASER_SA_TOKEN_FILE").unwrap_or_else(|| SA_TOKEN_FILE.into()),
        ca_file: get("CLOUDTASER_VAULT_CACERT"),
        secret_paths,
        env_map,
        on_change,
        start_deadline_ms: duration_ms(get("CLOUDTASER_START_DEADLINE"), 60_000, "CLOUDTASER_START_DEADLINE")?,
        poll_interval_ms: duration_ms(get("CLOUDTASER_POLL_INTERVAL"), 30_000, "CLOUDTASER_POLL_INTERVAL")?,
        files,
        base64_fields: crate::base64::Base64Fields::parse(get("CLOUDTASER_BASE64_FIELDS").as_deref())?,
        ebpf: crate::ebpf::Mode::from_env(get("CLOUDTASER_EBPF").as_deref(), get("CLOUDTASER_EBPF_FAIL").as_deref())?,
        ebpf_socket: get("CLOUDTASER_EBPF_SOCKET").unwrap_or_else(|| crate::ebpf::DEFAULT_SOCKET.into()),
    })
}

/// Names the child must never inherit: our settings and any OpenBao token in the pod's env.
pub fn stripped(name: &[u8]) -> bool {
    name.starts_with(b"CLOUDTASER_") || name == b"VAULT_TOKEN" || name == b"BAO_TOKEN"
}

/// A field name as a variable name when no mapping is written: JavaScript's
/// `f.toUpperCase().replace(/[^A-Z0-9_]/g, '_')`, one `_` per UTF-16 unit as there.
pub fn default_name(field: &str) -> String {
    field
        .to_uppercase()
        .chars()
        .flat_map(|c| {
            let keep = c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
            std::iter::repeat_n(if keep { c } else { '_' }, if keep { 1 } else { c.len_utf16() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_map_grammar() {
        assert_eq!(parse_env_map("  ").unwrap(), vec![]);
        let g = parse_env_map("password=PGPASSWORD, username = PGUSER;*=API_;;*=").unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g[0].fields, vec![("password".into(), "PGPASSWORD".into()), ("username".into(), "PGUSER".into())]);
        assert_eq!(g[1].all_with_prefix.as_deref(), Some("API_"));
        assert_eq!(g[2], EnvMapGroup::default());
        assert_eq!(g[3].all_with_prefix.as_deref(), Some(""));
        assert_eq!(parse_env_map("a=X,a=Y").unwrap()[0].fields, vec![("a".into(), "X".into()), ("a".into(), "Y".into())]);
        assert_eq!(parse_env_map("=X").unwrap_err(), "env-map entry \"=X\" is not field=ENV");
        assert_eq!(parse_env_map("novalue").unwrap_err(), "env-map entry \"novalue\" is not field=ENV");
        assert_eq!(parse_env_map("a=").unwrap_err(), "env-map entry \"a=\" has no variable name");
        assert_eq!(parse_env_map("a=B=C").unwrap()[0].fields, vec![("a".into(), "B=C".into())]);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(None, 7, "X").unwrap(), 7);
        assert_eq!(duration_ms(Some("500ms".into()), 0, "X").unwrap(), 500);
        assert_eq!(duration_ms(Some(" 30s ".into()), 0, "X").unwrap(), 30_000);
        assert_eq!(duration_ms(Some("2m".into()), 0, "X").unwrap(), 120_000);
        assert_eq!(duration_ms(Some("15".into()), 0, "X").unwrap(), 15_000);
        for bad in ["1h", "ms", "-1s", "1.5s", "s1"] {
            assert!(duration_ms(Some(bad.into()), 0, "X").is_err(), "{bad}");
        }
    }

    #[test]
    fn default_names_follow_javascript() {
        assert_eq!(default_name("db-password"), "DB_PASSWORD");
        assert_eq!(default_name("straße"), "STRASSE");
        assert_eq!(default_name("é😀x"), "___X");
    }

    #[test]
    fn command_json() {
        assert_eq!(parse_command(Some(r#"["/bin/app","$(A)","\u00e9"]"#)).unwrap(), vec![b"/bin/app".to_vec(), b"$(A)".to_vec(), "é".as_bytes().to_vec()]);
        assert!(parse_command(Some("[]")).is_err());
        assert!(parse_command(Some("[1]")).is_err());
        assert!(parse_command(None).is_err());
    }
}
