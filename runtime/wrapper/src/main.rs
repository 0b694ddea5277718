//! cloudtaser-wrapper: PID 1 of a protected container. Logs in to OpenBao, reads the KV v2
//! secrets, starts the original program with exactly the mapped values in its environment, then
//! keeps the token alive and the values current until the program exits (docs/wrapper.md).
//! `cloudtaser-wrapper install DIR` copies the executable to DIR/wrapper (the init container's job).
mod alloc;
mod bao;
mod base64;
mod config;
mod ebpf;
mod error;
mod expand;
#[cfg(test)]
mod fuzz;
mod files;
mod harden;
mod http;
mod json;
mod log;
mod poll;
mod secrets;
mod store;
mod supervise;

use config::Config;
use error::{Error, Result, EXIT_CONFIG, EXIT_UNAVAILABLE};
use log::{log, F};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: alloc::Zeroing = alloc::Zeroing;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(OsString::as_os_str) == Some(OsStr::new("install")) {
        exit(install(args.get(2).map(OsString::as_os_str)));
    }
    // Before any thread exists, so every thread inherits the mask (supervise.rs).
    supervise::block_signals();
    harden::harden();
    exit(run());
}

fn exit(code: i32) -> ! {
    unsafe { libc::_exit(code) }
}

fn fail(e: &Error) -> i32 {
    log::error(e, "start_failed");
    termination_message(e);
    e.exit
}

/// The kubelet shows this file's text as the container's last termination message (`kubectl
/// describe pod`, `target status`), so why a protected Pod does not start is visible without its
/// logs. Only where the kubelet mounted it (never created elsewhere); code, message, hint: no value.
fn termination_message(e: &Error) {
    use std::io::Write;
    let path = std::env::var_os("CLOUDTASER_TERMINATION_LOG").unwrap_or_else(|| "/dev/termination-log".into());
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).truncate(true).open(path) {
        let _ = write!(f, "{}: {}{}", e.code, e.message, e.hint.map(|h| format!(" ({h})")).unwrap_or_default());
    }
}

fn install(dir: Option<&OsStr>) -> i32 {
    let Some(dir) = dir else {
        log::log("error", "install_failed", &[("error", F::S("usage: cloudtaser-wrapper install DIR"))]);
        return 2;
    };
    let dir = std::path::Path::new(dir);
    let dest = dir.join("wrapper");
    let tmp = dir.join(format!(".wrapper.{}", std::process::id()));
    let r = (|| -> std::io::Result<u64> {
        use std::os::unix::fs::PermissionsExt;
        let src = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
        let n = std::fs::copy(&src, &tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &dest)?;
        Ok(n)
    })();
    match r {
        Ok(n) => {
            log::log("info", "installed", &[("path", F::S(&dest.to_string_lossy())), ("bytes", F::N(n as i64))]);
            0
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            log::log("error", "install_failed", &[("code", F::S("WRAPPER_INSTALL")), ("error", F::S(&format!("cannot install into {}: {e}", dir.display())))]);
            EXIT_CONFIG
        }
    }
}

/// Log in: kubernetes auth re-reads the projected token file each time (the kubelet rotates it).
pub fn login(cfg: &Config, bao: &bao::Bao) -> Result<bao::Session> {
    if cfg.token_auth {
        return Ok(bao::Session { token: cfg.token.clone().unwrap_or_default(), lease: None });
    }
    let jwt = std::fs::read_to_string(&cfg.token_file).map_err(|e| {
        Error::new("WRAPPER_SA_TOKEN", EXIT_CONFIG, format!("cannot read the ServiceAccount token {}: {}", cfg.token_file, e.kind()))
            .hint("The pod needs a projected ServiceAccount token (automountServiceAccountToken must not be false).")
    })?;
    bao.login_kubernetes(&cfg.auth_mount, &cfg.role, jwt.trim())
}

/// The child's program and environment: the container's own variables minus ours and minus the
/// names the secrets set, then the secrets (from the store, at spawn); command and args expanded
/// against that final environment.
pub fn launch_for(env: &[(OsString, OsString)], cfg: &Config, store: &store::Store) -> Result<supervise::Launch> {
    let base: Vec<&(OsString, OsString)> = env.iter().filter(|(k, _)| !config::stripped(k.as_bytes()) && store.find(k.as_bytes()).is_none()).collect();
    let lookup = |name: &[u8]| -> Option<&[u8]> { store.find(name).or_else(|| base.iter().rev().find(|(k, _)| k.as_bytes() == name).map(|(_, v)| v.as_bytes())) };
    let argv = cfg
        .command
        .iter()
        .map(|c| CString::new(expand::expand(c, &lookup)).map_err(|_| Error::config("CLOUDTASER_ORIGINAL_CMD: an argument holds a NUL character")))
        .collect::<Result<Vec<_>>>()?;
    let base_env = base
        .iter()
        .map(|(k, v)| {
            let mut b = Vec::with_capacity(k.len() + v.len() + 1);
            b.extend_from_slice(k.as_bytes());
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).expect("the environment holds no NUL")
        })
        .collect();
    Ok(supervise::Launch { argv, base_env })
}

fn run() -> i32 {
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let cfg = match config::read(&env) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let bao = match http::Endpoint::new(&cfg.vault_addr, cfg.ca_file.as_deref()) {
        Ok(ep) => bao::Bao { ep },
        Err(m) => return fail(&Error::new("WRAPPER_CACERT", EXIT_CONFIG, format!("CLOUDTASER_VAULT_CACERT / OpenBao address: {m}"))),
    };
    // Before any secret is fetched: fail closed without having asked OpenBao for anything, and the
    // app (spawned later) inherits the mark from its first instruction.
    if let Err(e) = ebpf::register(cfg.ebpf, &cfg.ebpf_socket) {
        return fail(&e);
    }
    let t0 = Instant::now();
    let end = t0 + Duration::from_millis(cfg.start_deadline_ms);
    let mut wait = 200u64;
    let (session, fetched, file_versions) = loop {
        let attempt = login(&cfg, &bao).and_then(|s| {
            let f = secrets::fetch(&bao, &s, &cfg.secret_paths, &cfg.env_map, &cfg.base64_fields, None)?.expect("no versions to compare");
            // Files before the app starts: it may read them at once.
            let fv = files::deliver(&bao, &s, &cfg.files, &cfg.base64_fields)?;
            Ok((s, f, fv))
        });
        match attempt {
            Ok(v) => break v,
            Err(e) if !e.transient() => return fail(&e),
            Err(e) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return fail(
                        &Error::new("WRAPPER_START_DEADLINE", EXIT_UNAVAILABLE, format!("OpenBao stayed unreachable for {}s: {}", cfg.start_deadline_ms.div_ceil(1000).max((cfg.start_deadline_ms + 500) / 1000), e))
                            .hint("The application was not started without its secrets. Check OpenBao and the network path from the pod; CLOUDTASER_START_DEADLINE sets the wait."),
                    );
                }
                let w = Duration::from_millis(wait).min(left);
                log("warn", "openbao_retry", &[("error", F::S(&e.message)), ("code", F::S(e.code)), ("waitMs", F::N(w.as_millis() as i64))]);
                if let Some(sig) = supervise::sleep_or_signal(w) {
                    log("warn", "start_interrupted", &[("signal", F::N(sig as i64))]);
                    return 128 + sig;
                }
                wait = (wait * 2).min(5000);
            }
        }
    };
    let mut f = vec![
        ("paths", F::N(cfg.secret_paths.len() as i64)),
        ("variables", F::N(fetched.store.len() as i64)),
        ("ms", F::N(t0.elapsed().as_millis() as i64)),
        ("auth", F::S(if cfg.token_auth { "token" } else { "kubernetes" })),
        ("secretMemory", F::S(fetched.store.memory)),
    ];
    if let Some(d) = &fetched.store.detail {
        f.push(("secretMemoryDetail", F::S(d)));
    }
    log("info", "secrets_fetched", &f);
    let launch = match launch_for(&env, &cfg, &fetched.store) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let ts = Instant::now();
    let pid = match supervise::spawn(&launch, Some(&fetched.store)) {
        Ok(p) => p,
        Err(errno) => {
            log("error", "exec_failed", &[("command", F::S(&String::from_utf8_lossy(launch.argv[0].as_bytes()))), ("error", F::S(&std::io::Error::from_raw_os_error(errno).to_string()))]);
            return 127;
        }
    };
    let spawn_ms = ts.elapsed().as_secs_f64() * 1000.0;
    supervise::set_child(pid);
    // The values now live in the app's image; ours are wiped at once (a restart reads afresh).
    let secrets::Fetched { store, mut versions } = fetched;
    drop(store);
    versions.extend(file_versions);
    drop(launch);
    log("info", "child_started", &[("pid", F::N(pid as i64)), ("command", F::S(&String::from_utf8_lossy(&cfg.command[0]))), ("spawn", F::S("posix_spawn")), ("spawnMs", F::D(spawn_ms))]);
    poll::start(cfg, bao, session, versions, env);
    supervise::run_main_loop()
}
