//! `qmail-run`: the whole system in one folder, in the foreground, with
//! one command. It installs the one-folder tree ([`crate::install`]),
//! adds the embedded default ([`home`]), compiles the SMTP rules with
//! our tcprules, then runs `qmail-start ./Maildir/` and `tcpserver ...
//! qmail-smtpd` on 127.0.0.1:2525 ([`supervise`]), with their logs on the
//! terminal. Ctrl-C (SIGINT) or SIGTERM stops it: tcpserver first, then
//! the SMTP sessions still open, then qmail-send, which finishes the
//! deliveries in progress. Messages still queued stay in the queue for
//! the next start. SIGHUP recompiles the rules and makes qmail-send
//! reread `locals` and `virtualdomains`.
//!
//! POP3 for `you` runs beside SMTP: a second tcpserver with
//! `qmail-popup mail.localhost etc/checkpassword qmail-pop3d Maildir` on
//! the SMTP address's IP, port 2110 (port 0 when SMTP has port 0;
//! `QMAILRUN_POP3` sets the address). It stops first.
//!
//! Submission (port 2587, `QMAILRUN_SUBMISSION`) runs beside them: the
//! same qmail-smtpd with AUTH required before MAIL ([`submission`]).
//!
//! - [`programs`]: the programs it installs, built first under `cargo run`.
//! - [`user`]: who it runs as (never root).
//! - [`home`]: the embedded default configuration.
//! - [`tls`]: the first start's certificate (STARTTLS) and AUTH user.
//! - [`supervise`]: processes, logs, signals.

pub mod home;
pub mod programs;
pub mod submission;
pub mod supervise;
pub mod tls;
pub mod user;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::hier::Owners;
use crate::{Context, Error, install};
use home::Layout;
use supervise::{Supervisor, print};
use user::RunAs;

/// The default folder, below the current directory.
pub const DEFAULT_HOME: &str = "qmail-run";
/// The default SMTP address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2525";
/// The variable that changes the default SMTP address (the tests use
/// port 0: the kernel picks a free port, and the banner tells it).
pub const LISTEN_VAR: &str = "QMAILRUN_LISTEN";

/// The variable that sets the POP3 address.
pub const POP3_VAR: &str = "QMAILRUN_POP3";
/// The default POP3 port, beside SMTP's 2525.
pub const DEFAULT_POP3_PORT: u16 = 2110;

/// Where POP3 listens: `QMAILRUN_POP3`, else SMTP's IP with port 2110,
/// or port 0 when SMTP has port 0 (the kernel picks both, as in tests).
fn pop3_listen(smtp: &SocketAddr) -> Result<SocketAddr, Error> {
    if let Some(v) = std::env::var(POP3_VAR).ok().filter(|v| !v.is_empty()) {
        return v
            .parse()
            .map_err(|_| Error::Other(format!("{POP3_VAR}={v} is not an ip:port address")));
    }
    let port = if smtp.port() == 0 {
        0
    } else {
        DEFAULT_POP3_PORT
    };
    Ok(SocketAddr::new(smtp.ip(), port))
}

/// Stop the POP3 server and its sessions: a session that ends without
/// QUIT changes nothing in the Maildir, so none is waited for long.
fn stop_pop3(sup: &mut Supervisor, pop3: Pid) {
    let calm = sup.interrupts;
    supervise::signal(pop3, Signal::SIGTERM);
    sup.wait_until(Duration::from_secs(5), calm, |s| s.exit_of(pop3).is_some());
    if !supervise::group_gone(pop3) {
        supervise::signal_group(pop3, Signal::SIGTERM);
        sup.wait_until(Duration::from_secs(2), calm, |_| {
            supervise::group_gone(pop3)
        });
    }
    if !supervise::group_gone(pop3) {
        supervise::signal_group(pop3, Signal::SIGKILL);
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub home: PathBuf,
    pub listen: SocketAddr,
    /// With root: the user to become.
    pub user: Option<String>,
}

fn say(text: &str) {
    print("qmail-run", text);
}

/// Run until stopped; the exit code.
pub fn main(opts: Options) -> i32 {
    match run(opts) {
        Ok(code) => code,
        Err(e) => {
            say(&format!("fatal: {e}"));
            111
        }
    }
}

fn exit_text(status: Option<WaitStatus>) -> String {
    match status {
        Some(WaitStatus::Exited(_, code)) => format!("exit {code}"),
        Some(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Some(other) => format!("{other:?}"),
        None => "still running".into(),
    }
}

fn run(opts: Options) -> Result<i32, Error> {
    let cwd = std::env::current_dir().ctx(|| "find the current directory".into())?;
    let home = cwd.join(&opts.home);
    let source = programs::find(&mut |s| say(s))?;
    let who = prepare(&home, opts.user.as_deref(), &source)?;
    let layout = Layout { home: home.clone() };
    home::configure(&layout, &mut |s| say(s))?;
    compile_rules(&layout)?;
    tls::first_start(&layout, &mut |s| say(s))?;

    let mut sup = Supervisor::new().ctx(|| "catch signals".into())?;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut search = std::ffi::OsString::from(home.join("bin"));
    search.push(":");
    search.push(&path);
    let base = |prog: PathBuf| {
        let mut c = Command::new(prog);
        c.env_clear()
            .env("PATH", &search)
            .env("QMAILHOME", &home)
            .current_dir(&home);
        c
    };

    let delivery = layout.default_delivery()?;
    let mut start = base(layout.bin("qmail-start"));
    start.arg(&delivery);
    let send = sup
        .spawn("send", start, false)
        .ctx(|| "run bin/qmail-start".into())?;

    let mut tcp = base(layout.bin("tcpserver"));
    tcp.args(["-v", "-R", "-H", "-l", home::HOST, "-x"])
        .arg(layout.rules_cdb())
        .arg("-1")
        .arg(opts.listen.ip().to_string())
        .arg(opts.listen.port().to_string())
        .arg(layout.bin("qmail-smtpd"))
        // SMTP AUTH (inside STARTTLS) for the users of control/passwd.
        .arg(home::HOST)
        .arg(layout.bin("checkpassword"))
        .arg("/bin/true")
        .env("CHECKPASSWORD_FILE", tls::PASSWD);
    let smtpd = match sup.spawn("smtpd", tcp, true) {
        Ok(pid) => pid,
        Err(e) => {
            stop(&mut sup, None, send);
            return Err(e).ctx(|| "run bin/tcpserver".into());
        }
    };

    let pop3_at = match pop3_listen(&opts.listen) {
        Ok(a) => a,
        Err(e) => {
            stop(&mut sup, Some(smtpd), send);
            return Err(e);
        }
    };
    let mut pop = base(layout.bin("tcpserver"));
    pop.args(["-v", "-R", "-H", "-l", home::HOST, "-1"])
        .arg(pop3_at.ip().to_string())
        .arg(pop3_at.port().to_string())
        .arg(layout.bin("qmail-popup"))
        .arg(home::HOST)
        .arg(layout.checkpassword())
        .arg(layout.bin("qmail-pop3d"))
        .arg("Maildir");
    let pop3 = match sup.spawn("pop3", pop, true) {
        Ok(pid) => pid,
        Err(e) => {
            stop(&mut sup, Some(smtpd), send);
            return Err(e).ctx(|| "run bin/tcpserver for POP3".into());
        }
    };

    let sub_at = match submission::listen(&opts.listen) {
        Ok(a) => a,
        Err(e) => {
            stop_pop3(&mut sup, pop3);
            stop(&mut sup, Some(smtpd), send);
            return Err(e);
        }
    };
    let mut sub = base(layout.bin("tcpserver"));
    submission::command(&mut sub, &layout, &sub_at);
    let subm = match sup.spawn(submission::LABEL, sub, true) {
        Ok(pid) => pid,
        Err(e) => {
            stop_pop3(&mut sup, pop3);
            stop(&mut sup, Some(smtpd), send);
            return Err(e).ctx(|| "run bin/tcpserver for submission".into());
        }
    };

    let gone = |s: &Supervisor| {
        s.exit_of(smtpd).is_some()
            || s.exit_of(send).is_some()
            || s.exit_of(pop3).is_some()
            || s.exit_of(subm).is_some()
    };
    let up = sup.wait_until(Duration::from_secs(30), 0, |s| {
        (s.port_line.is_some()
            && s.port_lines.contains_key("pop3")
            && s.port_lines.contains_key(submission::LABEL))
            || gone(s)
    });
    let port = sup.port_line.clone().filter(|_| up && !gone(&sup));
    let pop3_port = sup.port_lines.get("pop3").cloned();
    let sub_port = sup.port_lines.get(submission::LABEL).cloned();
    let (Some(port), Some(pop3_port), Some(sub_port)) = (port, pop3_port, sub_port) else {
        if sup.interrupts > 0 && !gone(&sup) {
            // Ctrl-C while starting: stop as at any other time.
            submission::stop(&mut sup, subm);
            stop_pop3(&mut sup, pop3);
            let clean = stop(&mut sup, Some(smtpd), send);
            say("stopped while starting");
            return Ok(if clean { 0 } else { 130 });
        }
        let why = format!(
            "the system did not come up: qmail-send {}, tcpserver {}, POP3 tcpserver {}, submission tcpserver {}",
            exit_text(sup.exit_of(send)),
            exit_text(sup.exit_of(smtpd)),
            exit_text(sup.exit_of(pop3)),
            exit_text(sup.exit_of(subm))
        );
        submission::stop(&mut sup, subm);
        stop_pop3(&mut sup, pop3);
        stop(&mut sup, Some(smtpd), send);
        return Err(Error::Other(why));
    };
    let shown = Path::new(&opts.home)
        .join("mail")
        .join(home::USER)
        .join("Maildir/new");
    say(&format!(
        "SMTP on {}:{port}; mail for {}@{} lands in {}/; running as {} (uid {}); Ctrl-C stops",
        opts.listen.ip(),
        home::USER,
        home::ALSO_LOCAL,
        shown.display(),
        who.name,
        who.uid
    ));
    say(&format!(
        "POP3 on {}:{pop3_port} for {} (password in {}/etc/pop3.password)",
        pop3_at.ip(),
        home::USER,
        opts.home.display()
    ));
    say(&format!(
        "submission on {}:{sub_port}: AUTH required, inside STARTTLS (users in {}/{})",
        sub_at.ip(),
        opts.home.display(),
        tls::PASSWD
    ));

    // Running.
    let mut failed = None;
    while sup.interrupts == 0 {
        sup.pump(Duration::from_secs(5));
        if let Some(st) = sup.exit_of(send) {
            failed = Some(format!("qmail-send ended ({})", exit_text(Some(st))));
            break;
        }
        if let Some(st) = sup.exit_of(smtpd) {
            failed = Some(format!("tcpserver ended ({})", exit_text(Some(st))));
            break;
        }
        if let Some(st) = sup.exit_of(pop3) {
            failed = Some(format!("POP3 tcpserver ended ({})", exit_text(Some(st))));
            break;
        }
        if let Some(st) = sup.exit_of(subm) {
            failed = Some(format!(
                "submission tcpserver ended ({})",
                exit_text(Some(st))
            ));
            break;
        }
        if sup.hups > 0 {
            sup.hups = 0;
            say("SIGHUP: recompiling etc/tcp.smtp, qmail-send rereads locals and virtualdomains");
            if let Err(e) = compile_rules(&layout) {
                say(&format!("warning: {e}"));
            }
            supervise::signal(send, Signal::SIGHUP);
        }
    }
    if let Some(why) = &failed {
        say(&format!("{why}; stopping the rest"));
    }
    submission::stop(&mut sup, subm);
    stop_pop3(&mut sup, pop3);
    let clean = stop(&mut sup, Some(smtpd), send);
    let left = queue::inspect::stat(&home.join("queue"))
        .map(|s| s.queued)
        .unwrap_or(0);
    let tail = if left == 0 {
        "the queue is empty".to_string()
    } else {
        format!("{left} message(s) stay in the queue for the next start")
    };
    match (clean, failed) {
        (true, None) => {
            say(&format!("stopped cleanly; {tail}"));
            Ok(0)
        }
        (_, Some(why)) => {
            say(&format!("stopped after a failure ({why}); {tail}"));
            Ok(111)
        }
        (false, None) => {
            say(&format!(
                "killed everything at once; nothing acknowledged is lost: {tail}"
            ));
            Ok(130)
        }
    }
}

/// Make the folder and install the one-folder tree; as root, for an
/// ordinary user, who we then become. Returns who runs the system.
fn prepare(home: &Path, wanted: Option<&str>, source: &install::Source) -> Result<RunAs, Error> {
    let root = nix::unistd::geteuid().is_root();
    let who = if root {
        user::choose(wanted, home)?
    } else {
        if wanted.is_some() {
            return Err(Error::Other("--user needs root".into()));
        }
        RunAs::me()
    };
    if let Some(dir) = user::blocked_at(home, &who) {
        return Err(Error::Other(format!(
            "{} (uid {}) runs the mail system but cannot enter {}: run qmail-run as an \
             ordinary user, or choose a folder that user can reach (--home /tmp/qmail-run)",
            who.name,
            who.uid,
            dir.display()
        )));
    }
    match std::fs::metadata(home) {
        Ok(m) if m.uid() != who.uid => {
            return Err(Error::Other(format!(
                "{} belongs to uid {}, not to {} (uid {}): run qmail-run as its owner or remove it",
                home.display(),
                m.uid(),
                who.name,
                who.uid
            )));
        }
        _ => {}
    }
    let new = !home.exists();
    if new {
        say(&format!("making {} (one-folder mode)", home.display()));
    }
    install::make_dir(home, who.uid, who.gid, 0o755)?;
    install::install(home, &Owners::single(who.uid, who.gid), source)?;
    if root {
        sys::privs::set_gid(who.gid).ctx(|| format!("set gid {}", who.gid))?;
        sys::privs::set_uid(who.uid).ctx(|| format!("set uid {}", who.uid))?;
        say(&format!(
            "running as {} (uid {}, gid {}): root never delivers mail",
            who.name, who.uid, who.gid
        ));
    }
    Ok(who)
}

/// `tcprules etc/tcp.smtp.cdb etc/tcp.smtp.tmp < etc/tcp.smtp`.
fn compile_rules(layout: &Layout) -> Result<(), Error> {
    let rules = layout.rules();
    let input = std::fs::File::open(&rules).ctx(|| format!("open {}", rules.display()))?;
    let out = Command::new(layout.bin("tcprules"))
        .arg(layout.rules_cdb())
        .arg(layout.rules_tmp())
        .stdin(input)
        .output()
        .ctx(|| "run bin/tcprules".into())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "unable to compile {}: {}",
            rules.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }
}

/// Stop everything in order; true when all went down on request.
fn stop(sup: &mut Supervisor, smtpd: Option<Pid>, send: Pid) -> bool {
    // A further Ctrl-C while stopping kills everything at once.
    let calm = sup.interrupts;
    let mut clean = true;
    if let Some(smtpd) = smtpd {
        say(
            "stopping: tcpserver, then open SMTP sessions, then qmail-send after the deliveries in progress (Ctrl-C again kills everything at once)",
        );
        supervise::signal(smtpd, Signal::SIGTERM);
        if !sup.wait_until(Duration::from_secs(5), calm, |s| s.exit_of(smtpd).is_some()) {
            clean = false;
        }
        // Sessions already accepted may finish what they are doing.
        if clean
            && !sup.wait_until(Duration::from_secs(3), calm, |_| {
                supervise::group_gone(smtpd)
            })
        {
            supervise::signal_group(smtpd, Signal::SIGTERM);
            sup.wait_until(Duration::from_secs(2), calm, |_| {
                supervise::group_gone(smtpd)
            });
        }
    }
    if clean && sup.exit_of(send).is_none() {
        supervise::signal(send, Signal::SIGTERM);
        let exited = |s: &Supervisor| s.exit_of(send).is_some();
        if !sup.wait_until(Duration::from_secs(5), calm, exited) && sup.interrupts <= calm {
            say("waiting for qmail-send to finish the deliveries in progress");
        }
        clean = sup.wait_until(Duration::from_secs(600), calm, exited);
        if clean {
            sup.wait_until(Duration::from_secs(10), calm, |_| {
                supervise::group_gone(send)
            });
        }
    }
    for pgid in smtpd.into_iter().chain([send]) {
        if !supervise::group_gone(pgid) {
            supervise::signal_group(pgid, Signal::SIGKILL);
        }
    }
    sup.wait_until(Duration::from_secs(5), u32::MAX, |s| {
        smtpd.is_none_or(|p| supervise::group_gone(p) && s.exit_of(p).is_some())
            && supervise::group_gone(send)
            && s.exit_of(send).is_some()
    });
    sup.drain_logs();
    if let Some(st) = sup.exit_of(send)
        && !matches!(st, WaitStatus::Exited(_, 0))
    {
        clean = false;
    }
    clean
}
