//! A minimal blocking HTTP/1.1 client over a TcpStream or rustls: one request per connection
//! (`connection: close`), the whole exchange under one deadline. Enough for OpenBao's JSON API and
//! small enough to review; the response body is handed over as bytes, never as text. Every buffer
//! here (request with the token, records, body) is zeroed when freed (alloc.rs).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub struct Endpoint {
    pub addr: String,
    host_header: String,
    host: String,
    port: u16,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum HttpError {
    /// Refused, reset, unresolvable, timed out: a retry may help.
    Io(String),
    /// Certificate or handshake refused: a retry will not help.
    Tls(String),
    /// Not HTTP as we know it.
    Protocol(&'static str),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Io(m) | HttpError::Tls(m) => f.write_str(m),
            HttpError::Protocol(m) => f.write_str(m),
        }
    }
}

/// The TLS settings OpenBao's clients use: only the given CA(s) when a file is named (as
/// VAULT_CACERT), the compiled-in web PKI roots otherwise; TLS 1.2 or 1.3.
pub fn tls_config(ca_pem_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem_file {
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(file).map_err(|e| format!("cannot read {file}: {e}"))?;
            for c in certs {
                roots.add(c.map_err(|e| format!("{file}: {e}"))?).map_err(|e| format!("{file}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("{file} holds no PEM certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

impl Endpoint {
    /// `addr` is an http(s) URL without a path (checked by config.rs).
    pub fn new(addr: &str, ca_pem_file: Option<&str>) -> Result<Endpoint, String> {
        let (https, rest) = match addr.strip_prefix("https://") {
            Some(r) => (true, r),
            None => (false, addr.strip_prefix("http://").ok_or("not an http(s) URL")?),
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("bad IPv6 address")?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("bad port in {addr}"))?,
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
        };
        let tls = if https {
            let name = ServerName::try_from(host.clone()).map_err(|_| format!("{host} is not a valid server name"))?;
            Some((tls_config(ca_pem_file)?, name))
        } else {
            None
        };
        Ok(Endpoint { addr: addr.to_string(), host_header: authority.to_string(), host, port, tls })
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>, timeout: Duration) -> Result<Response, HttpError> {
        let deadline = Instant::now() + timeout;
        let tcp = self.connect(deadline)?;
        let mut req = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        req.extend_from_slice(format!("{method} /v1/{path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\naccept: application/json\r\n", self.host_header).as_bytes());
        if let Some(t) = token {
            req.extend_from_slice(b"x-vault-token: ");
            req.extend_from_slice(t.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        if let Some(b) = body {
            req.extend_from_slice(format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n", b.len()).as_bytes());
            req.extend_from_slice(b);
        } else {
            req.extend_from_slice(b"\r\n");
        }
        match &self.tls {
            None => exchange(Timed(tcp, deadline), &req, deadline),
            Some((cfg, name)) => {
                let conn = rustls::ClientConnection::new(cfg.clone(), name.clone()).map_err(|e| HttpError::Tls(e.to_string()))?;
                let mut s = rustls::StreamOwned::new(conn, Timed(tcp, deadline));
                // Handshake first, so a refused certificate is told apart from a dead network.
                while s.conn.is_handshaking() {
                    if let Err(e) = s.conn.complete_io(&mut s.sock) {
                        return Err(tls_or_io(e));
                    }
                }
                exchange(s, &req, deadline)
            }
        }
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, HttpError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs().map_err(|e| HttpError::Io(format!("cannot resolve {}: {e}", self.host)))?.collect();
        let mut last = HttpError::Io(format!("{} resolves to no address", self.host));
        for a in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HttpError::Io("timed out".into()));
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = HttpError::Io(format!("connect {a}: {e}")),
            }
        }
        Err(last)
    }
}

fn tls_or_io(e: std::io::Error) -> HttpError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => HttpError::Tls(t.to_string()),
        None => HttpError::Io(e.to_string()),
    }
}

/// A TcpStream whose every read and write is bounded by the request's deadline.
struct Timed(TcpStream, Instant);

impl Timed {
    fn arm(&self) -> std::io::Result<()> {
        let left = self.1.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"));
        }
        self.0.set_read_timeout(Some(left))?;
        self.0.set_write_timeout(Some(left))
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.0.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn exchange(stream: impl Stream, req: &[u8], deadline: Instant) -> Result<Response, HttpError> {
    let mut s = stream;
    // A plain TcpStream gets the same deadline through Timed; rustls' stream already wraps one.
    s.write_all(req).map_err(tls_or_io)?;
    s.flush().map_err(tls_or_io)?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut head: Option<Head> = None;
    loop {
        if let Some(h) = &head {
            if let Some(end) = h.complete(&buf) {
                let h = head.take().unwrap();
                return finish(buf, h, end);
            }
        } else if let Some(h) = Head::parse(&buf)? {
            head = Some(h);
            continue;
        }
        if Instant::now() >= deadline {
            return Err(HttpError::Io("timed out".into()));
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity());
        }
        let at = buf.len();
        let cap = buf.capacity();
        buf.resize(cap, 0);
        match s.read(&mut buf[at..]) {
            Ok(0) => {
                buf.truncate(at);
                return match head {
                    Some(h) if h.length.is_none() && !h.chunked => {
                        let end = buf.len();
                        finish(buf, h, end)
                    }
                    _ => Err(HttpError::Io("connection closed before the response was complete".into())),
                };
            }
            Ok(n) => buf.truncate(at + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(at),
            Err(e) => {
                buf.truncate(at);
                return Err(tls_or_io(e));
            }
        }
    }
}

struct Head {
    status: u16,
    body_at: usize,
    length: Option<usize>,
    chunked: bool,
}

impl Head {
    fn parse(buf: &[u8]) -> Result<Option<Head>, HttpError> {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return if buf.len() > 64 * 1024 { Err(HttpError::Protocol("response head too large")) } else { Ok(None) };
        };
        let text = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Protocol("response head is not text"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        if !parts.next().unwrap_or("").starts_with("HTTP/1.") {
            return Err(HttpError::Protocol("not an HTTP/1.x response"));
        }
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or(HttpError::Protocol("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.parse().map_err(|_| HttpError::Protocol("bad content-length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
        if status == 204 || status == 304 || (100..200).contains(&status) {
            length = Some(0);
        }
        Ok(Some(Head { status, body_at: end + 4, length, chunked }))
    }

    /// Where the complete message ends, once it has all arrived.
    fn complete(&self, buf: &[u8]) -> Option<usize> {
        if self.chunked {
            let mut at = self.body_at;
            loop {
                let line_end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
                let size_text = std::str::from_utf8(&buf[at..line_end]).ok()?;
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                if size == 0 {
                    // Trailers end with an empty line.
                    let rest = buf.get(line_end + 2..)?;
                    let t = rest.windows(2).position(|w| w == b"\r\n")?;
                    if t == 0 {
                        return Some(line_end + 4);
                    }
                    return rest.windows(4).position(|w| w == b"\r\n\r\n").map(|p| line_end + 2 + p + 4);
                }
                at = line_end + 2 + size + 2;
                if buf.len() < at {
                    return None;
                }
            }
        }
        self.length.and_then(|n| (buf.len() >= self.body_at + n).then_some(self.body_at + n))
    }
}

/// The body moved to the front of the same buffer (chunks joined in place); the rest wiped.
fn finish(mut buf: Vec<u8>, h: Head, end: usize) -> Result<Response, HttpError> {
    let mut out = 0;
    if h.chunked {
        let mut at = h.body_at;
        loop {
            let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n").ok_or(HttpError::Protocol("bad chunk"))?;
            let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| HttpError::Protocol("bad chunk"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| HttpError::Protocol("bad chunk"))?;
            if size == 0 {
                break;
            }
            let from = line_end + 2;
            buf.copy_within(from..from + size, out);
            out += size;
            at = from + size + 2;
        }
    } else {
        let n = end - h.body_at;
        buf.copy_within(h.body_at..end, 0);
        out = n;
    }
    let len = buf.len();
    crate::alloc::wipe(buf[out..len].as_mut_ptr(), len - out);
    buf.truncate(out);
    Ok(Response { status: h.status, body: buf })
}
