//! qmail-lspawn: local deliveries (qmail-lspawn.c).
//!
//! For each recipient `local@domain`: an empty local part is trash and
//! succeeds at once. Otherwise the user comes from `users/cdb` (exact
//! key, then the longest wildcard prefix) or, without an entry, from
//! `qmail-getpw local` run as qmailp:nofiles. Then `qmail-local -- user
//! homedir local dash ext domain sender defaultdelivery` runs as that
//! user and group with no supplementary groups, never as root, its fd 0
//! the message and fds 1 and 2 the report. Both programs are found in
//! `$PATH` (qmail's rc puts `QMAILHOME/bin` first) and run in the qmail
//! home.
//!
//! In the one-folder mode (not started as root) nobody's uid changes: the
//! deliveries run as the invoking user, who is not root.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use control::qlx;
use control::status::Status;
use queue::owners::Mode;

use crate::spawner::{Agent, Exit, Running, Step};

/// qmail-lspawn keeps this much of qmail-local's output.
pub const TRUNCREPORT: usize = 3000;

/// The report for qmail-send from qmail-local's exit and output
/// (qmail-lspawn.c `report`).
pub fn report(exit: Exit, output: &[u8]) -> Vec<u8> {
    let code = match exit {
        Exit::Crashed => return b"Zqmail-local crashed.\n".to_vec(),
        Exit::Code(c) => c,
    };
    let fixed: &[u8] = match code {
        qlx::CDB => b"ZTrouble reading users/cdb in qmail-lspawn.\n",
        qlx::NOMEM => b"ZOut of memory in qmail-lspawn.\n",
        qlx::SYS => b"ZTemporary failure in qmail-lspawn.\n",
        qlx::NOALIAS => b"ZUnable to find alias user!\n",
        qlx::ROOT => b"ZNot allowed to perform deliveries as root.\n",
        qlx::USAGE => b"ZInternal qmail-lspawn bug.\n",
        qlx::NFS => b"ZNFS failure in qmail-local.\n",
        qlx::EXECHARD => b"DUnable to run qmail-local.\n",
        qlx::EXECSOFT => b"ZUnable to run qmail-local.\n",
        qlx::EXECPW => b"ZUnable to run qmail-getpw.\n",
        _ => b"",
    };
    if !fixed.is_empty() {
        return fixed.to_vec();
    }
    let mut r = vec![Status::from_local_exit(code).byte()];
    let end = output.iter().position(|&b| b == 0).unwrap_or(output.len());
    r.extend_from_slice(&output[..end]);
    r
}

/// The six fields qmail-getpw prints and `users/cdb` holds, each ending in
/// NUL: user, uid, gid, home, dash, ext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nughde {
    pub user: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub home: Vec<u8>,
    pub dash: Vec<u8>,
    pub ext: Vec<u8>,
}

/// Parse the fields; `None` is qmail-lspawn's "internal bug" (a field
/// without its NUL).
pub fn parse_nughde(x: &[u8]) -> Option<Nughde> {
    let mut fields = Vec::with_capacity(6);
    let mut rest = x;
    for _ in 0..6 {
        let n = rest.iter().position(|&b| b == 0)?;
        fields.push(&rest[..n]);
        rest = &rest[n + 1..];
    }
    let num = |f: &[u8]| queue::records::scan_ulong(f).min(u64::from(u32::MAX)) as u32;
    Some(Nughde {
        user: fields[0].to_vec(),
        uid: num(fields[1]),
        gid: num(fields[2]),
        home: fields[3].to_vec(),
        dash: fields[4].to_vec(),
        ext: fields[5].to_vec(),
    })
}

/// What a local delivery remembers between its stages.
#[derive(Debug)]
pub enum Ctx {
    /// qmail-getpw runs; then qmail-local.
    Getpw(Pending),
    /// qmail-local runs.
    Local,
}

/// The delivery waiting for qmail-getpw.
#[derive(Debug)]
pub struct Pending {
    msg: File,
    local: Vec<u8>,
    domain: Vec<u8>,
    sender: Vec<u8>,
}

/// qmail-lspawn's agent.
#[derive(Debug)]
pub struct Local {
    /// The qmail home: programs run there and `users/cdb` is in it.
    pub home: PathBuf,
    /// qmail-start's argument: the default delivery (`./Mailbox`).
    pub aliasempty: OsString,
    pub mode: Mode,
}

fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b)
}

/// A pipe for a child's output; the parent keeps the read end.
fn out_pipe() -> io::Result<(io::PipeReader, io::PipeWriter, io::PipeWriter)> {
    let (r, w) = io::pipe()?;
    let w2 = w.try_clone()?;
    Ok((r, w, w2))
}

impl Local {
    fn getpw(&self, p: Pending) -> Step<Ctx> {
        let Ok((r, w, _)) = out_pipe() else {
            return Step::Report(report(Exit::Code(qlx::SYS), b""));
        };
        let mut cmd = Command::new("qmail-getpw");
        cmd.arg(os(&p.local))
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(w)
            .stderr(Stdio::null());
        if let Mode::Root(ids) = &self.mode {
            cmd.uid(ids.qmailp).gid(ids.nofiles);
        }
        match cmd.spawn() {
            Ok(child) => Step::Run(Running {
                child,
                out: r,
                ctx: Ctx::Getpw(p),
            }),
            Err(_) => Step::Report(report(Exit::Code(qlx::EXECPW), b"")),
        }
    }

    fn local(&self, p: Pending, n: &Nughde) -> Step<Ctx> {
        // Never a delivery as root: in root mode the target uid, in the
        // one-folder mode our own.
        let runs_as = match &self.mode {
            Mode::Root(_) => n.uid,
            Mode::Single => nix::unistd::geteuid().as_raw(),
        };
        if runs_as == 0 {
            return Step::Report(report(Exit::Code(qlx::ROOT), b""));
        }
        let Ok((r, w, w2)) = out_pipe() else {
            return Step::Report(report(Exit::Code(qlx::SYS), b""));
        };
        let mut cmd = Command::new("qmail-local");
        cmd.arg("--")
            .arg(os(&n.user))
            .arg(os(&n.home))
            .arg(os(&p.local))
            .arg(os(&n.dash))
            .arg(os(&n.ext))
            .arg(os(&p.domain))
            .arg(os(&p.sender))
            .arg(&self.aliasempty)
            .current_dir(&self.home)
            .stdin(p.msg)
            .stdout(w)
            .stderr(w2);
        if matches!(self.mode, Mode::Root(_)) {
            // std sets the gid, drops the supplementary groups, then the uid.
            cmd.uid(n.uid).gid(n.gid);
        }
        match cmd.spawn() {
            Ok(child) => Step::Run(Running {
                child,
                out: r,
                ctx: Ctx::Local,
            }),
            Err(e) if sys::errstr::is_temporary(&e) => {
                Step::Report(report(Exit::Code(qlx::EXECSOFT), b""))
            }
            Err(_) => Step::Report(report(Exit::Code(qlx::EXECHARD), b"")),
        }
    }

    fn assigned(&self, p: Pending, x: &[u8]) -> Step<Ctx> {
        match parse_nughde(x) {
            Some(n) => self.local(p, &n),
            None => Step::Report(report(Exit::Code(qlx::USAGE), b"")),
        }
    }
}

impl Agent for Local {
    type Ctx = Ctx;

    fn truncreport(&self) -> usize {
        TRUNCREPORT
    }

    fn queue_uid(&self) -> u32 {
        self.mode.queue_uid()
    }

    fn start(&mut self, msg: File, sender: &[u8], recip: &[u8], at: usize) -> Step<Ctx> {
        let local = &recip[..at];
        if local.is_empty() {
            // <>: trash.
            return Step::Report(report(Exit::Code(0), b""));
        }
        let p = Pending {
            msg,
            local: local.to_vec(),
            domain: recip[at + 1..].to_vec(),
            sender: sender.to_vec(),
        };
        match control::users::lookup(&self.home.join("users/cdb"), local) {
            Ok(Some(x)) => self.assigned(p, &x),
            Ok(None) => self.getpw(p),
            Err(_) => Step::Report(report(Exit::Code(qlx::CDB), b"")),
        }
    }

    fn finished(&mut self, ctx: Ctx, exit: Exit, output: &[u8]) -> Step<Ctx> {
        match ctx {
            Ctx::Local => Step::Report(report(exit, output)),
            Ctx::Getpw(p) => match exit {
                Exit::Crashed => Step::Report(report(Exit::Code(qlx::SYS), b"")),
                Exit::Code(0) => self.assigned(p, output),
                Exit::Code(c) => Step::Report(report(Exit::Code(c), b"")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_map_exit_codes_like_qmail() {
        assert_eq!(report(Exit::Code(0), b"did 0+0+1\n"), b"Kdid 0+0+1\n");
        assert_eq!(report(Exit::Code(111), b"try later\n"), b"Ztry later\n");
        for c in [71, 74, 75] {
            assert_eq!(report(Exit::Code(c), b"x")[0], b'Z');
        }
        assert_eq!(report(Exit::Code(100), b"no\0more"), b"Dno");
        assert_eq!(report(Exit::Code(3), b""), b"D");
        assert_eq!(report(Exit::Crashed, b"x"), b"Zqmail-local crashed.\n");
        assert_eq!(
            report(Exit::Code(qlx::ROOT), b"x"),
            b"ZNot allowed to perform deliveries as root.\n"
        );
        assert_eq!(
            report(Exit::Code(qlx::EXECHARD), b""),
            b"DUnable to run qmail-local.\n"
        );
        assert_eq!(
            report(Exit::Code(qlx::NOALIAS), b""),
            b"ZUnable to find alias user!\n"
        );
    }

    #[test]
    fn nughde_needs_six_terminated_fields() {
        assert_eq!(
            parse_nughde(b"joe\x001001\x00100\x00/home/joe\0-\0ext\0").unwrap(),
            Nughde {
                user: b"joe".to_vec(),
                uid: 1001,
                gid: 100,
                home: b"/home/joe".to_vec(),
                dash: b"-".to_vec(),
                ext: b"ext".to_vec()
            }
        );
        assert!(parse_nughde(b"joe\x001001\x00100\x00/home/joe\0-\0ext").is_none());
        assert!(parse_nughde(b"").is_none());
    }
}
