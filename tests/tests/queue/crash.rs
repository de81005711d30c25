//! Crash safety: messages are queued while qmail-queue and qmail-send are
//! killed with SIGKILL at random moments; afterwards every message that
//! qmail-queue acknowledged (exit 0) is in the Maildir byte for byte, and
//! nothing partial is ever delivered. Leftovers of killed qmail-queue runs
//! are reaped by qmail-send's and qmail-clean's cleanup once 36 hours old.
//!
//! Bounded: a fixed number of messages and kills, every wait with a
//! deadline. The random choices come from a seed printed at the start;
//! `QUEUE_CRASH_SEED=N` repeats a run.
//!
//! Mode: one-folder (non-root), delivering through our real qmail-local
//! and qmail-getpw into `mail/joe/Maildir/`.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::support::{System, now, set_times};
use e2e::rng::Rng;

const MESSAGES: usize = 80;
const T: Duration = Duration::from_secs(60);

fn message(i: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m =
        format!("From: alice@example.org\nTo: joe@test.example\nX-Seq: {i}\n\n").into_bytes();
    // Sizes from a line to a few hundred KiB, so kills land inside writes.
    let size = match rng.below(4) {
        0 => 10,
        1 => 2_000,
        2 => 60_000,
        _ => 300_000,
    } + rng.below(1000) as usize;
    let line = format!("line of message {i} ........................................\n");
    while m.len() < size {
        m.extend_from_slice(line.as_bytes());
    }
    m.extend_from_slice(format!("END {i}\n").as_bytes());
    m
}

/// How one qmail-queue run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Exit 0: acknowledged, must be delivered.
    Acked,
    /// Killed while the message was still being written: must never be
    /// delivered.
    KilledEarly,
    /// Killed after the whole message and envelope were handed over: may
    /// or may not have been queued, but never partially.
    KilledLate,
}

fn inject(s: &System, msg: &[u8], rng: &mut Rng) -> Fate {
    let (er, mut ew) = std::io::pipe().unwrap();
    let mut c = s.command("qmail-queue");
    c.stdin(Stdio::piped()).stdout(Stdio::from(er));
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    let mut stdin = p.child.stdin.take().unwrap();
    let choice = rng.below(10);
    if choice < 3 {
        // Kill part way through the message.
        let cut = rng.below(msg.len() as u64) as usize;
        let _ = stdin.write_all(&msg[..cut]);
        p.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = p.wait_timeout(T);
        return Fate::KilledEarly;
    }
    let _ = stdin.write_all(msg);
    drop(stdin);
    let _ = ew.write_all(b"Falice@example.org\0Tjoe@test.example\0\0");
    drop(ew);
    if choice < 6 {
        // Kill while it syncs and links: within a few milliseconds, or a
        // few tens, when it may already have linked todo/.
        let span = if rng.below(2) == 0 { 3_000 } else { 30_000 };
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        p.signal(nix::sys::signal::Signal::SIGKILL);
    }
    let st = p.wait_timeout(T).expect("qmail-queue exits");
    if st.code() == Some(0) {
        Fate::Acked
    } else {
        assert_eq!(st.code(), None, "qmail-queue failed on its own: {st:?}");
        Fate::KilledLate
    }
}

/// Write one byte to `lock/trigger`, as qmail-queue does after a link.
fn pull_trigger(s: &System) {
    use std::os::unix::fs::OpenOptionsExt;
    let trigger = s.queue().join("lock/trigger");
    let pulled = e2e::poll_until(T, || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&trigger)
            .ok()?;
        f.write_all(b"\0").ok()
    });
    assert!(pulled.is_some(), "nobody reads {}", trigger.display());
}

/// The original message inside a delivered file: after qmail-local's
/// Return-Path and Delivered-To and qmail-queue's Received line.
fn original(file: &[u8]) -> &[u8] {
    let mut rest = file;
    for want in [
        &b"Return-Path: "[..],
        b"Delivered-To: ",
        b"Received: (qmail ",
    ] {
        assert!(rest.starts_with(want), "delivered file lacks {want:?}");
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        rest = &rest[nl + 1..];
    }
    rest
}

#[test]
fn kill_9_anywhere_loses_no_acknowledged_message_and_delivers_nothing_partial() {
    let seed = std::env::var("QUEUE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now() as u64 | 1);
    eprintln!("QUEUE_CRASH_SEED={seed}");
    let mut rng = Rng::from_state(seed);
    let started = Instant::now();

    let mut s = System::new();
    s.start_delivering_to_maildir("joe");

    let msgs: Vec<Vec<u8>> = (0..MESSAGES).map(|i| message(i, &mut rng)).collect();
    let mut fates = Vec::new();
    let mut send_kills = 0;
    for m in &msgs {
        fates.push(inject(&s, m, &mut rng));
        if rng.below(6) == 0 {
            // kill -9 qmail-send (and its helpers) a moment later, while
            // it preprocesses or delivers; then start it again.
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
            s.kill();
            send_kills += 1;
            s.start("./Maildir/");
        }
    }
    let count = |f: Fate| fates.iter().filter(|&&x| x == f).count();
    eprintln!(
        "{} acked, {} killed early, {} killed late, qmail-send killed {send_kills} times",
        count(Fate::Acked),
        count(Fate::KilledEarly),
        count(Fate::KilledLate)
    );
    assert!(count(Fate::Acked) > 0 && count(Fate::KilledEarly) > 0);

    // A qmail-queue killed after its link into todo/ but before it wrote
    // the trigger leaves its message for the next trigger or the next
    // periodic todo scan (qmail's SLEEP_TODO, 25 minutes). The next
    // sender's qmail-queue would pull the trigger; do it for them, once
    // qmail-send is surely up, so the last kills do not hold the queue.
    pull_trigger(&s);

    // Everything queued gets delivered: wait for todo/ and info/ to empty.
    let drained = e2e::poll_until(T, || {
        (s.count("todo") == 0 && s.count("info") == 0).then_some(())
    });
    assert!(
        drained.is_some(),
        "queue did not drain: {:#?}",
        s.log_lines()
    );

    let delivered = s.delivered("joe");
    let by_content: HashMap<&[u8], usize> =
        msgs.iter().enumerate().map(|(i, m)| (&m[..], i)).collect();
    let mut times = vec![0usize; MESSAGES];
    for f in &delivered {
        let body = original(f);
        let Some(&i) = by_content.get(body) else {
            panic!(
                "a delivered message is not one we sent (partial?): {} bytes, ends {:?}",
                body.len(),
                String::from_utf8_lossy(&body[body.len().saturating_sub(40)..])
            );
        };
        times[i] += 1;
    }
    for (i, f) in fates.iter().enumerate() {
        match f {
            Fate::Acked => assert!(times[i] >= 1, "acknowledged message {i} was lost"),
            Fate::KilledEarly => assert_eq!(times[i], 0, "message {i} was cut short yet delivered"),
            Fate::KilledLate => {}
        }
    }
    let dups: usize = times.iter().map(|&t| t.saturating_sub(1)).sum();
    let late_queued = fates
        .iter()
        .zip(&times)
        .filter(|(f, t)| **f == Fate::KilledLate && **t > 0)
        .count();
    eprintln!(
        "{} delivered, {dups} duplicates (qmail delivers twice when killed between delivery and marking), {late_queued} killed after the todo link and delivered whole",
        delivered.len()
    );

    // Leftovers of killed qmail-queue runs: never in todo, so never
    // delivered; once 36 hours old they are reaped.
    s.stop();
    let old = now() - 37 * 3600;
    for dir in ["mess", "pid", "intd"] {
        for p in files(&s.queue().join(dir)) {
            set_times(&p, old);
        }
    }
    s.start("./Maildir/");
    let clean = e2e::poll_until(T, || {
        (s.count("mess") == 0 && s.count("pid") == 0 && s.count("intd") == 0).then_some(())
    });
    assert!(
        clean.is_some(),
        "leftovers not reaped: mess {} pid {} intd {}",
        s.count("mess"),
        s.count("pid"),
        s.count("intd")
    );
    s.stop();
    assert!(started.elapsed() < Duration::from_secs(300));
}

fn files(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir(p) {
        for e in d.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
