//! qmail-qmtpd and qmail-qmqpd (qmail-qmtpd.8, qmail-qmqpd.8): the
//! processes around [`crate::proto`], on fds 0 and 1 under tcpserver.
//!
//! Both chdir to the qmail home, put a Received line `with QMTP` /
//! `with QMQP` on each message and hand it to qmail-queue. qmail-qmtpd
//! also applies qmail-smtpd's relay rules: with `RELAYCLIENT` set every
//! recipient is accepted (with its value appended), otherwise each
//! recipient's domain must be in rcpthosts or morercpthosts.cdb (smtpd's
//! [`RcptHosts`]); and `control/databytes` (or `$DATABYTES`). qmail-qmqpd
//! trusts its clients, as in 1.03: tcpserver's rules decide who may
//! connect.
//!
//! Exit codes as 1.03: 0 when the client closes between messages (or
//! stops reading answers), 100 on a protocol violation, 111 on a local
//! problem or a length over the bound. Unlike 1.03, whose single alarm
//! of 3600 seconds covers a whole connection, every read and write waits
//! at most `control/timeoutqmtpd` / `control/timeoutqmqpd` seconds
//! (default 1200), so a stalled client is dropped and a long session of
//! many messages is not.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use control::Home;
use control::qmail_queue::QueueClient;
use smtpd::config::{Peer, process_env};
use smtpd::rcpthosts::RcptHosts;

use crate::netstring::{self, Error};
use crate::proto::{Event, Field, Limits, QmqpReader, QmtpReader};
use crate::timed::{self, Read};

/// The default per-read timeout, as qmail-smtpd's.
pub const DEFAULT_TIMEOUT: u64 = 1200;

/// The Received line of a message that came by `proto` (QMTP, QMQP),
/// qmail-smtpd's line with the protocol's name.
pub fn received(peer: &Peer, proto: &str, now: i64) -> Vec<u8> {
    let line = smtpd::received::received(
        &smtpd::received::Fields {
            remote_host: &peer.remote_host,
            remote_ip: &peer.remote_ip,
            remote_info: peer.remote_info.as_deref(),
            local: &peer.local,
            helo: None,
        },
        now,
    );
    // The fields cannot hold a space (smtpd makes unsafe bytes `?`), so
    // this is the one place the protocol is named.
    let (from, to) = (b" with SMTP; ", format!(" with {proto}; ").into_bytes());
    match line.windows(from.len()).position(|w| w == from) {
        Some(i) => [&line[..i], &to[..], &line[i + from.len()..]].concat(),
        None => line,
    }
}

/// One message being received.
struct Message {
    qq: QueueClient,
    qp: u32,
    bytes: u64,
    sender: Vec<u8>,
    sender_ok: bool,
    recipients: Vec<Vec<u8>>,
    /// One status per recipient: 0 accepted, `D` not in rcpthosts, `L`
    /// too long, `N` a NUL byte.
    status: Vec<u8>,
}

impl Message {
    fn open(home: &Home, peer: &Peer, proto: &str) -> io::Result<Message> {
        let mut qq = QueueClient::open(home)?;
        let qp = qq.pid();
        qq.put(&received(peer, proto, control::datetime::now_secs()));
        Ok(Message {
            qq,
            qp,
            bytes: 0,
            sender: Vec::new(),
            sender_ok: true,
            recipients: Vec::new(),
            status: Vec::new(),
        })
    }
}

/// The settings qmail-qmtpd runs with.
pub struct Qmtpd {
    pub home: Home,
    pub peer: Peer,
    pub rcpthosts: RcptHosts,
    /// 0: no limit.
    pub databytes: u64,
    pub timeout: Duration,
}

impl Qmtpd {
    /// From the qmail home (already the current directory) and the
    /// environment.
    pub fn load(home: Home) -> io::Result<Qmtpd> {
        let rcpthosts = RcptHosts::load(&home)?;
        let mut databytes = home.int("databytes")?.unwrap_or(0);
        if let Some(v) = process_env("DATABYTES") {
            databytes = control::file::parse_ulong(&v).unwrap_or(0);
        }
        let timeout = Duration::from_secs(home.int("timeoutqmtpd")?.unwrap_or(DEFAULT_TIMEOUT));
        Ok(Qmtpd {
            peer: Peer::from_env(&process_env),
            home,
            rcpthosts,
            databytes,
            timeout,
        })
    }
}

/// What stops a server.
#[derive(Debug)]
enum Stop {
    /// Exit with this code.
    Exit(i32),
}

/// The QMTP answers for one message.
fn qmtp_answer(m: Message, databytes: u64) -> Vec<u8> {
    let over = databytes > 0 && m.bytes > databytes;
    let mut qq = m.qq;
    if !m.status.contains(&0) || !m.sender_ok || over {
        qq.fail();
    }
    let result = qq.close(&m.sender, &m.recipients);
    let text = if !m.sender_ok {
        "Dunacceptable sender (#5.1.7)".to_string()
    } else if over {
        "Dsorry, that message size exceeds my databytes limit (#5.3.4)".to_string()
    } else {
        match result {
            Ok(()) => format!("Kok {} qp {}", control::datetime::now_secs(), m.qp),
            Err(e) => e.status(),
        }
    };
    let mut out = Vec::new();
    for s in m.status {
        out.extend(match s {
            0 => netstring::encode(text.as_bytes()),
            b'D' => {
                b"66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),".to_vec()
            }
            _ => b"46:Dsorry, I can't handle that recipient (#5.1.3),".to_vec(),
        });
    }
    out
}

/// Run qmail-qmtpd on fds 0 and 1; the exit code.
pub fn qmtpd(mut cfg: Qmtpd) -> i32 {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let (rfd, wfd) = (stdin.as_fd(), stdout.as_fd());
    let mut reader = QmtpReader::new(Limits::default());
    let mut buf = vec![0u8; 65536];
    let mut current: Option<Message> = None;
    let mut stop: Option<Stop> = None;
    let relay = cfg.peer.relay_client.clone();
    loop {
        let n = match timed::read(rfd, &mut buf, cfg.timeout) {
            Ok(Read::Bytes(n)) => n,
            // A client may leave between messages; leaving in the middle
            // of one just drops it (qmail-queue never gets its envelope).
            Ok(Read::Eof) | Err(_) => return 0,
            Ok(Read::Timeout) => return 111,
        };
        let mut out = Vec::new();
        let fed = reader.feed(&buf[..n], &mut |ev| {
            if stop.is_some() {
                return;
            }
            match ev {
                Event::Start => match Message::open(&cfg.home, &cfg.peer, "QMTP") {
                    Ok(m) => current = Some(m),
                    Err(_) => stop = Some(Stop::Exit(111)),
                },
                Event::Body(b) => {
                    if let Some(m) = current.as_mut() {
                        m.bytes += b.len() as u64;
                        if cfg.databytes == 0 || m.bytes <= cfg.databytes {
                            m.qq.put(b);
                        }
                    }
                }
                Event::Sender(f) => {
                    if let Some(m) = current.as_mut() {
                        match f {
                            Field::Ok(s) => m.sender = s,
                            _ => m.sender_ok = false,
                        }
                    }
                }
                Event::Recipient(f) => {
                    let Some(m) = current.as_mut() else { return };
                    let relay_len = relay.as_ref().map_or(0, Vec::len);
                    let status = match f {
                        Field::Ok(r) if r.len() + relay_len >= 1000 => b'L',
                        Field::Ok(mut r) => match &relay {
                            Some(v) => {
                                r.extend_from_slice(v);
                                m.recipients.push(r);
                                0
                            }
                            None => match cfg.rcpthosts.allows(&r) {
                                Ok(true) => {
                                    m.recipients.push(r);
                                    0
                                }
                                Ok(false) => b'D',
                                Err(_) => {
                                    stop = Some(Stop::Exit(111));
                                    return;
                                }
                            },
                        },
                        Field::TooLong => b'L',
                        Field::Nul => b'N',
                    };
                    m.status.push(status);
                }
                Event::End => {
                    if let Some(m) = current.take() {
                        out.extend(qmtp_answer(m, cfg.databytes));
                    }
                }
            }
        });
        // Answers already earned are written before any error ends the
        // session.
        if !out.is_empty() && timed::write_all(wfd, &out, cfg.timeout).is_err() {
            return 0;
        }
        if let Some(Stop::Exit(code)) = stop {
            return code;
        }
        match fed {
            Ok(()) => {}
            Err(Error::BadProto) => return 100,
            Err(Error::TooBig) => return 111,
        }
    }
}

/// Run qmail-qmqpd on fds 0 and 1; the exit code.
pub fn qmqpd(home: Home) -> i32 {
    let timeout = match home.int("timeoutqmqpd") {
        Ok(t) => Duration::from_secs(t.unwrap_or(DEFAULT_TIMEOUT)),
        Err(_) => return 111,
    };
    let peer = Peer::from_env(&process_env);
    let stdin = io::stdin();
    let stdout = io::stdout();
    let (rfd, wfd) = (stdin.as_fd(), stdout.as_fd());
    let mut reader = QmqpReader::new(Limits::default());
    let mut buf = vec![0u8; 65536];
    let mut current: Option<Message> = None;
    let mut failed_open = false;
    let mut answer: Option<Vec<u8>> = None;
    let mut ok = true;
    while !reader.done() {
        let n = match timed::read(rfd, &mut buf, timeout) {
            Ok(Read::Bytes(n)) => n,
            Ok(Read::Eof) | Err(_) => return 0,
            Ok(Read::Timeout) => return 111,
        };
        let fed = reader.feed(&buf[..n], &mut |ev| match ev {
            Event::Start => match Message::open(&home, &peer, "QMQP") {
                Ok(m) => current = Some(m),
                Err(_) => failed_open = true,
            },
            Event::Body(b) => {
                if let Some(m) = current.as_mut() {
                    m.qq.put(b);
                }
            }
            Event::Sender(f) => match (f, current.as_mut()) {
                (Field::Ok(a), Some(m)) => m.sender = a,
                _ => ok = false,
            },
            Event::Recipient(f) => match (f, current.as_mut()) {
                (Field::Ok(a), Some(m)) => m.recipients.push(a),
                _ => ok = false,
            },
            Event::End => {
                if let Some(m) = current.take() {
                    let mut qq = m.qq;
                    if !ok {
                        qq.fail();
                    }
                    let result = qq.close(&m.sender, &m.recipients);
                    let text = if !ok {
                        "Dsorry, I can't accept addresses like that (#5.1.3)".to_string()
                    } else {
                        match result {
                            Ok(()) => format!("Kok {} qp {}", control::datetime::now_secs(), m.qp),
                            Err(e) => e.status(),
                        }
                    };
                    answer = Some(netstring::encode(text.as_bytes()));
                }
            }
        });
        if failed_open {
            return 111;
        }
        match fed {
            Ok(()) => {}
            Err(Error::BadProto) => return 100,
            Err(Error::TooBig) => return 111,
        }
    }
    if let Some(a) = answer {
        let _ = timed::write_all(wfd, &a, timeout);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_names_the_protocol() {
        let peer = Peer {
            remote_ip: b"127.0.0.1".to_vec(),
            remote_host: b"with SMTP; x".to_vec(),
            remote_info: None,
            local: b"mx.example.com".to_vec(),
            relay_client: None,
        };
        let line = String::from_utf8(received(&peer, "QMTP", 1_735_898_400)).unwrap();
        assert_eq!(
            line,
            "Received: from with?SMTP??x (127.0.0.1)\n  by mx.example.com with QMTP; 3 Jan 2025 10:00:00 -0000\n"
        );
    }
}
