//! The OpenBao calls the wrapper makes, with the error codes of lib/openbao/errors.ts so a log line
//! reads the same as the CLI's. One attempt per call: the start deadline loop and the poll ticks
//! are the retries.
use crate::error::{Error, Result, EXIT_AUTH, EXIT_CHECK, EXIT_CONFIG, EXIT_UNAVAILABLE};
use crate::http::{Endpoint, HttpError, Response};
use crate::json::{self, Node};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Bao {
    pub ep: Endpoint,
}

/// An OpenBao token, zeroed when dropped (alloc.rs) like every heap buffer.
pub struct Session {
    pub token: String,
    /// Seconds the token lives; 0: never expires; None: not looked up yet (token auth).
    pub lease: Option<u64>,
}

fn errors_of(body: &[u8]) -> String {
    let Ok(n) = json::parse(body) else { return String::new() };
    match n.get("errors") {
        Some(Node::Arr(items, ..)) => items.iter().filter_map(|i| i.string(body)).collect::<Vec<_>>().join("; "),
        _ => String::new(),
    }
}

impl Bao {
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Result<Response> {
        let what = format!("{method} {path}");
        let r = self.ep.request(method, path, token, body, TIMEOUT).map_err(|e| match e {
            HttpError::Tls(m) => Error::new("BAO_TLS", EXIT_CONFIG, format!("TLS to {} failed: {m}", self.ep.addr))
                .hint("Point CLOUDTASER_VAULT_CACERT (annotation vault-ca-configmap) at the CA that signed OpenBao's certificate. Verification stays on."),
            other => Error::new("BAO_UNREACHABLE", EXIT_UNAVAILABLE, format!("OpenBao at {} did not answer {what} after 1 attempt(s): {other}", self.ep.addr))
                .hint("Check the OpenBao address and the network path from the pod."),
        })?;
        if r.status == 503 && String::from_utf8_lossy(&r.body).to_ascii_lowercase().contains("sealed") {
            return Err(Error::new("BAO_SEALED", EXIT_UNAVAILABLE, format!("OpenBao at {} is sealed", self.ep.addr)));
        }
        Ok(r)
    }

    /// A status the caller does not handle, as the CLI's client reports it.
    pub fn failure(&self, method: &str, path: &str, token: Option<&str>, r: &Response) -> Error {
        let what = format!("{method} {path}");
        let detail = errors_of(&r.body);
        let sep = if detail.is_empty() { "" } else { ": " };
        if r.status == 429 || r.status >= 500 {
            return Error::new("BAO_UNAVAILABLE", EXIT_UNAVAILABLE, format!("{what}: HTTP {} after 1 attempt(s){sep}{detail}", r.status));
        }
        if r.status == 403 {
            // OpenBao answers 403 both for "not allowed" and for a dead token: lookup-self tells.
            let valid = self.call("GET", "auth/token/lookup-self", token, None).map(|l| l.status == 200).unwrap_or(true);
            if !valid {
                return Error::new("BAO_INVALID_TOKEN", EXIT_AUTH, "the OpenBao token is invalid or expired (auth/token/lookup-self was refused)");
            }
            let cap = if method == "GET" { "read" } else { "update" };
            return Error::new("BAO_PERMISSION_DENIED", EXIT_AUTH, format!("permission denied: {method} {path} needs the \"{cap}\" capability on \"{path}\""));
        }
        Error::new("BAO_REQUEST_FAILED", EXIT_CHECK, format!("{what}: HTTP {}{sep}{detail}", r.status))
    }

    pub fn login_kubernetes(&self, mount: &str, role: &str, jwt: &str) -> Result<Session> {
        let path = format!("auth/{mount}/login");
        let mut body = String::with_capacity(jwt.len() + role.len() + 32);
        body.push_str("{\"role\":");
        crate::log::quote(&mut body, role);
        body.push_str(",\"jwt\":");
        crate::log::quote(&mut body, jwt);
        body.push('}');
        let r = self.call("POST", &path, None, Some(body.as_bytes()))?;
        if r.status == 400 || r.status == 403 {
            let d = errors_of(&r.body);
            let d = if d.is_empty() { format!("HTTP {}", r.status) } else { d };
            return Err(Error::new("BAO_LOGIN_REFUSED", EXIT_AUTH, format!("kubernetes login to auth/{mount} as role {role} refused: {d}"))
                .hint("The role binds specific ServiceAccounts and namespaces; check them with `bao read auth/<mount>/role/<role>`."));
        }
        if r.status != 200 {
            return Err(self.failure("POST", &path, None, &r));
        }
        let n = json::parse(&r.body).map_err(|e| bad_answer(&path, e))?;
        let token = n.path(&["auth", "client_token"]).and_then(|t| t.string(&r.body)).ok_or_else(|| Error::new("INTERNAL", 70, format!("{path} returned no token")))?;
        let lease = n.path(&["auth", "lease_duration"]).and_then(|l| l.int(&r.body)).unwrap_or(0).max(0) as u64;
        Ok(Session { token, lease: Some(lease) })
    }

    /// A given token's remaining TTL (0: never expires).
    pub fn token_ttl(&self, s: &Session) -> Result<u64> {
        let path = "auth/token/lookup-self";
        let r = self.call("GET", path, Some(&s.token), None)?;
        if r.status != 200 {
            return Err(self.failure("GET", path, Some(&s.token), &r));
        }
        let n = json::parse(&r.body).map_err(|e| bad_answer(path, e))?;
        Ok(n.path(&["data", "ttl"]).and_then(|t| t.int(&r.body)).unwrap_or(0).max(0) as u64)
    }

    /// Renew at half the lease: the new lease.
    pub fn renew(&self, s: &Session) -> Result<u64> {
        let path = "auth/token/renew-self";
        let r = self.call("POST", path, Some(&s.token), Some(b"{}"))?;
        if r.status != 200 {
            return Err(self.failure("POST", path, Some(&s.token), &r));
        }
        let n = json::parse(&r.body).map_err(|e| bad_answer(path, e))?;
        Ok(n.path(&["auth", "lease_duration"]).and_then(|t| t.int(&r.body)).unwrap_or(0).max(0) as u64)
    }

    /// KV v2 read: the raw answer (404 included) for the caller to scan in place.
    pub fn read_raw(&self, s: &Session, path: &str) -> Result<Response> {
        let r = self.call("GET", path, Some(&s.token), None)?;
        if r.status != 200 && r.status != 404 {
            return Err(self.failure("GET", path, Some(&s.token), &r));
        }
        Ok(r)
    }

    /// current_version of each path from KV metadata: no value moves. None: the token may not
    /// read metadata (the caller then polls by reading the secrets).
    pub fn versions(&self, s: &Session, data_paths: &[String]) -> Result<Option<Vec<i64>>> {
        let mut out = Vec::with_capacity(data_paths.len());
        for p in data_paths {
            let Some(m) = metadata_path(p) else { return Ok(None) };
            let r = self.call("GET", &m, Some(&s.token), None)?;
            match r.status {
                403 => return Ok(None),
                404 => out.push(0),
                200 => {
                    let n = json::parse(&r.body).map_err(|e| bad_answer(&m, e))?;
                    out.push(n.path(&["data", "current_version"]).and_then(|v| v.int(&r.body)).unwrap_or(0));
                }
                _ => return Err(self.failure("GET", &m, Some(&s.token), &r)),
            }
        }
        Ok(Some(out))
    }
}

pub fn bad_answer(path: &str, e: json::JsonError) -> Error {
    Error::new("WRAPPER_KV_RESPONSE", EXIT_UNAVAILABLE, format!("OpenBao's answer for {path} is not valid JSON ({e})"))
        .hint("Something between the wrapper and OpenBao altered the response; check proxies on the path.")
}

/// `<mount>/data/<path>` -> `<mount>/metadata/<path>` (the first `/data/` segment).
pub fn metadata_path(data_path: &str) -> Option<String> {
    let i = data_path.find("/data/").filter(|&i| i > 0)?;
    Some(format!("{}/metadata/{}", &data_path[..i], &data_path[i + 6..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_paths() {
        assert_eq!(super::metadata_path("secret/data/billing/db").as_deref(), Some("secret/metadata/billing/db"));
        assert_eq!(super::metadata_path("kv/team/data/x/data/y").as_deref(), Some("kv/team/metadata/x/data/y"));
        assert_eq!(super::metadata_path("secret/billing"), None);
    }
}
