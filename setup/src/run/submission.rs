//! qmail-run's submission port (RFC 6409): a third tcpserver running the
//! same qmail-smtpd and checkpassword as SMTP, with `SMTPAUTH='!'`
//! (s/qmail's spelling): MAIL gets 530 5.7.0 until the client has logged
//! in, inside STARTTLS. Mail clients that send through "port 587 with
//! authentication" use it. The port is 2587 beside SMTP's 2525 (port 0
//! when SMTP has port 0, as in tests); `QMAILRUN_SUBMISSION` moves it.
//! No address rules: on this port every client logs in, so the address
//! decides nothing.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::home::{self, Layout};
use super::supervise::{self, Supervisor};
use super::tls;
use crate::Error;

/// The variable that sets the submission address.
pub const VAR: &str = "QMAILRUN_SUBMISSION";
/// The default submission port: 587 moved as 25 is to 2525.
pub const DEFAULT_PORT: u16 = 2587;
/// The supervisor's label of the submission tcpserver.
pub const LABEL: &str = "submission";

/// Where submission listens: `QMAILRUN_SUBMISSION`, else SMTP's IP with
/// port 2587, or port 0 when SMTP has port 0.
pub fn listen(smtp: &SocketAddr) -> Result<SocketAddr, Error> {
    if let Some(v) = std::env::var(VAR).ok().filter(|v| !v.is_empty()) {
        return v
            .parse()
            .map_err(|_| Error::Other(format!("{VAR}={v} is not an ip:port address")));
    }
    let port = if smtp.port() == 0 { 0 } else { DEFAULT_PORT };
    Ok(SocketAddr::new(smtp.ip(), port))
}

/// Make `tcp` (a `bin/tcpserver` command with qmail-run's environment)
/// the submission server on `at`.
pub fn command(tcp: &mut Command, layout: &Layout, at: &SocketAddr) {
    tcp.args(["-v", "-R", "-H", "-l", home::HOST, "-1"])
        .arg(at.ip().to_string())
        .arg(at.port().to_string())
        .arg(layout.bin("qmail-smtpd"))
        .arg(home::HOST)
        .arg(layout.bin("checkpassword"))
        .arg("/bin/true")
        .env("CHECKPASSWORD_FILE", tls::PASSWD)
        .env("SMTPAUTH", "!");
}

/// Stop the submission server, then let its open sessions finish what
/// they are doing for a moment (a message in DATA), then end them.
pub fn stop(sup: &mut Supervisor, pid: Pid) {
    let calm = sup.interrupts;
    supervise::signal(pid, Signal::SIGTERM);
    sup.wait_until(Duration::from_secs(5), calm, |s| s.exit_of(pid).is_some());
    if !sup.wait_until(Duration::from_secs(3), calm, |_| supervise::group_gone(pid)) {
        supervise::signal_group(pid, Signal::SIGTERM);
        sup.wait_until(Duration::from_secs(2), calm, |_| supervise::group_gone(pid));
    }
    if !supervise::group_gone(pid) {
        supervise::signal_group(pid, Signal::SIGKILL);
    }
}
