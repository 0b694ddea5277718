//! After the start, on its own thread: token renewal at half the lease (a fresh login when renewal
//! fails for good), and KV version polling through metadata (no value moves) with restart or
//! SIGHUP on a change. OpenBao gone: logged, the app keeps running, the next tick tries again.
use crate::bao::{Bao, Session};
use crate::config::{Config, OnChange};
use crate::error::Result;
use crate::log::{log, F};
use std::ffi::OsString;
use std::time::{Duration, Instant};

struct Poll {
    cfg: Config,
    bao: Bao,
    session: Session,
    versions: Vec<i64>,
    env: Vec<(OsString, OsString)>,
    renew_at: Option<Instant>,
    by_metadata: bool,
}

fn renew_at_for(lease: u64) -> Option<Instant> {
    (lease > 0).then(|| Instant::now() + Duration::from_millis(lease * 500))
}

pub fn start(cfg: Config, bao: Bao, session: Session, versions: Vec<i64>, env: Vec<(OsString, OsString)>) {
    let renew_at = session.lease.and_then(renew_at_for);
    let mut p = Poll { cfg, bao, session, versions, env, renew_at, by_metadata: true };
    std::thread::Builder::new()
        .name("poll".into())
        .spawn(move || {
            // A given token's TTL is looked up now that the app runs (only schedules renewal).
            if p.session.lease.is_none() {
                p.report(|p| p.tick(true));
            }
            loop {
                std::thread::sleep(Duration::from_millis(p.cfg.poll_interval_ms));
                p.report(|p| p.tick(false));
            }
        })
        .expect("poll thread");
}

impl Poll {
    fn report(&mut self, f: impl FnOnce(&mut Poll) -> Result<()>) {
        if let Err(e) = f(self) {
            log("warn", "refresh_failed", &[("error", F::S(&e.message)), ("code", F::S(e.code))]);
        }
    }

    fn tick(&mut self, ttl_only: bool) -> Result<()> {
        if self.session.lease.is_none() {
            let ttl = self.bao.token_ttl(&self.session)?;
            self.session.lease = Some(ttl);
            self.renew_at = renew_at_for(ttl);
            log("info", "token_ttl", &[("leaseSeconds", F::N(ttl as i64))]);
        }
        if ttl_only {
            return Ok(());
        }
        if self.renew_at.is_some_and(|t| Instant::now() >= t) {
            match self.bao.renew(&self.session) {
                Ok(lease) => {
                    self.renew_at = renew_at_for(lease);
                    log("info", "token_renewed", &[("leaseSeconds", F::N(lease as i64))]);
                }
                // Past max TTL or revoked: a fresh login with the (kubelet-rotated) token file.
                Err(e) if !e.transient() && !self.cfg.token_auth => {
                    self.session = crate::login(&self.cfg, &self.bao)?;
                    let lease = self.session.lease.unwrap_or(0);
                    self.renew_at = renew_at_for(lease);
                    log("info", "token_relogin", &[("leaseSeconds", F::N(lease as i64))]);
                }
                Err(e) => return Err(e),
            }
        }
        if self.cfg.on_change == OnChange::None {
            return Ok(());
        }
        // Versions of the env secrets, then of the file secrets, in that order.
        let n = self.cfg.secret_paths.len();
        let all: Vec<String> = self.cfg.secret_paths.iter().cloned().chain(self.cfg.files.iter().map(|f| f.path.clone())).collect();
        let current = if self.by_metadata { self.bao.versions(&self.session, &all)? } else { None };
        if self.by_metadata && current.is_none() {
            self.by_metadata = false;
            log("info", "version_poll_by_read", &[("reason", F::S("the token cannot read KV metadata; changes are detected by reading the secrets"))]);
        }
        let (env_now, files_now, mut env_next) = match current {
            Some(c) if c == self.versions => return Ok(()),
            Some(c) => (c[..n].to_vec(), c[n..].to_vec(), None),
            None => {
                // Unchanged versions: no value is copied anywhere, the response bytes are zeroed.
                let next = crate::secrets::fetch(&self.bao, &self.session, &self.cfg.secret_paths, &self.cfg.env_map, &self.cfg.base64_fields, Some(&self.versions[..n]))?;
                let fv = crate::files::versions_by_read(&self.bao, &self.session, &self.cfg.files)?;
                if next.is_none() && fv[..] == self.versions[n..] {
                    return Ok(());
                }
                let ev = next.as_ref().map_or_else(|| self.versions[..n].to_vec(), |x| x.versions.clone());
                (ev, fv, next)
            }
        };
        let joined = env_now.iter().chain(&files_now).map(i64::to_string).collect::<Vec<_>>().join(",");
        let action = if self.cfg.on_change == OnChange::Sighup { "sighup" } else { "restart" };
        log("info", "secret_changed", &[("versions", F::S(&joined)), ("action", F::S(action))]);
        // Files first, swapped atomically, so the restarted (or signalled) app reads the new ones.
        let files_now = if files_now[..] != self.versions[n..] { crate::files::deliver(&self.bao, &self.session, &self.cfg.files, &self.cfg.base64_fields)? } else { files_now };
        if self.cfg.on_change == OnChange::Sighup {
            // The process keeps its environment: new env values have nowhere to go.
            drop(env_next.take());
            self.versions = env_now.into_iter().chain(files_now).collect();
            crate::supervise::signal(libc::SIGHUP);
        } else {
            let next = match env_next.take() {
                Some(x) => x,
                None => crate::secrets::fetch(&self.bao, &self.session, &self.cfg.secret_paths, &self.cfg.env_map, &self.cfg.base64_fields, None)?.expect("no versions to compare"),
            };
            self.versions = next.versions.iter().copied().chain(files_now).collect();
            let launch = crate::launch_for(&self.env, &self.cfg, &next.store)?;
            crate::supervise::restart(Duration::from_secs(10), || crate::supervise::spawn(&launch, Some(&next.store)));
            drop(launch);
            drop(next);
        }
        log("info", "child_notified", &[("pid", F::N(crate::supervise::current_pid() as i64))]);
        Ok(())
    }
}
