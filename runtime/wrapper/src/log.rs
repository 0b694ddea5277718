//! JSON lines on stderr (stdout belongs to the app), component `wrapper`: names, paths, counts,
//! versions, never a value. One write(2) per line so lines from two threads never interleave.
pub enum F<'a> {
    S(&'a str),
    N(i64),
    D(f64),
    B(bool),
}

pub fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC with milliseconds, as JavaScript's toISOString.
fn now_iso() -> String {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let secs = ts.tv_sec;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, ts.tv_nsec / 1_000_000)
}

pub fn log(level: &str, event: &str, fields: &[(&str, F)]) {
    let mut line = String::with_capacity(160);
    line.push_str("{\"ts\":\"");
    line.push_str(&now_iso());
    line.push_str("\",\"level\":");
    quote(&mut line, level);
    line.push_str(",\"component\":\"wrapper\",\"event\":");
    quote(&mut line, event);
    for (k, v) in fields {
        line.push(',');
        quote(&mut line, k);
        line.push(':');
        match v {
            F::S(s) => quote(&mut line, s),
            F::N(n) => line.push_str(&n.to_string()),
            F::D(d) => line.push_str(&format!("{:.2}", d)),
            F::B(b) => line.push_str(if *b { "true" } else { "false" }),
        }
    }
    line.push_str("}\n");
    write_all(2, line.as_bytes());
}

/// A full non-blocking pipe is retried briefly; a log line is never worth blocking PID 1 forever.
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    let mut spins = 0;
    while !bytes.is_empty() && spins < 1000 {
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            spins += 1;
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }
}

pub fn error(err: &crate::error::Error, event: &str) {
    let mut f = vec![("code", F::S(err.code)), ("error", F::S(&err.message))];
    if let Some(h) = err.hint {
        f.push(("hint", F::S(h)));
    }
    log("error", event, &f);
}
