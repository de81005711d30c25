//! qmail-send itself (qmail-send.c): preprocesses new messages from
//! `todo/`, schedules deliveries through the spawners, retries, bounces,
//! and cleans up, all in one single-threaded loop around `poll`.
//!
//! Where things are, one job per module, all methods of [`Send`]:
//! - [`event`]: the poll loop, the spawner and qmail-clean pipes;
//! - [`queues`]: priority queues of message ids by time (one per channel
//!   for the next attempt, `done` for finished messages waiting for their
//!   bounce and cleanup, `fail` after a stat failed), jobs (a message
//!   being worked on on one channel, with its retry time), and the
//!   cleanup of message files left by a qmail-queue that died;
//! - [`pass`]: passes over a channel file record by record, starting a
//!   delivery for each undone recipient while there is a free slot, and
//!   the end of a message;
//! - [`deliveries`]: the delivery bookkeeping: commands to the spawners,
//!   their K/Z/D reports, recipients marked done (`T` overwritten with
//!   `D`);
//! - [`bounces`]: the info file, bounce paragraphs and injecting bounces;
//! - [`todo`]: new messages become `info`, `local`, `remote` files.
//!
//! Every path is the queue root ([`QueueDir`]) joined with qmail's
//! relative name, which is also what the log says; qmail-send never
//! changes its working directory. Every time is in whole seconds, as in
//! qmail. The retry time of a job survives a restart in the mtime of its
//! channel file (written on exit).
//!
//! Damage: a todo file with an unknown record, or an info file that is not
//! `F...\0`, is logged once and set aside (left in place, not touched again
//! until qmail-send restarts), never retried in a loop and never a crash.

mod bounces;
mod deliveries;
mod event;
mod pass;
mod queues;
mod todo;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::ops::{Index, IndexMut};
use std::path::{Path, PathBuf};

use control::Home;
use control::datetime::now_secs;
use nix::sys::signal::Signal;
use queue::layout;
use sys::selfpipe::SelfPipe;

use crate::controls::Controls;
use crate::log::Log;
use crate::proto::ReportDecoder;
use crate::rewrite::Channel;

/// Check `todo/` every 25 minutes even without a trigger.
const SLEEP_TODO: i64 = 1500;
/// Slop on sleeps, so a wake-up is never a hair early.
const SLEEP_FUZZ: i64 = 1;
/// The longest sleep.
const SLEEP_FOREVER: i64 = 86400;
/// Between walks of `mess/` for leftovers.
const SLEEP_CLEANUP: i64 = 76431;
/// After a filesystem failure, try again this much later.
const SLEEP_SYSFAIL: i64 = 123;
/// 36 hours: a message file with no todo or info this old is garbage
/// (must exceed qmail-queue's 24-hour limit).
const OSSIFIED: i64 = 129_600;

/// One of each per channel, indexed by [`Channel`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PerChan<T>(pub [T; 2]);

impl<T> Index<Channel> for PerChan<T> {
    type Output = T;
    fn index(&self, c: Channel) -> &T {
        &self.0[c as usize]
    }
}

impl<T> IndexMut<Channel> for PerChan<T> {
    fn index_mut(&mut self, c: Channel) -> &mut T {
        &mut self.0[c as usize]
    }
}

impl<T> PerChan<T> {
    fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

/// The words of the `status:` and `starting delivery` lines.
fn status_name(c: Channel) -> &'static str {
    match c {
        Channel::Local => " local ",
        Channel::Remote => " remote ",
    }
}

fn to_chan(c: Channel) -> &'static str {
    match c {
        Channel::Local => " to local ",
        Channel::Remote => " to remote ",
    }
}

/// The queue directory: every file qmail-send touches is found from here,
/// by the relative name qmail uses (and logs), e.g. `info/3/1234`.
#[derive(Debug, Clone)]
pub struct QueueDir {
    root: PathBuf,
}

impl QueueDir {
    pub fn new(root: impl Into<PathBuf>) -> QueueDir {
        QueueDir { root: root.into() }
    }

    /// The path of a queue file named as in qmail.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The channel file of a message, as named in qmail and the log.
    fn chan_name(id: u64, c: Channel) -> String {
        layout::channel(id, c)
    }
}

/// qmail-send's seven descriptors.
#[derive(Debug)]
pub struct Fds {
    /// fd 0: the log.
    pub log: File,
    /// fds 1 and 3: commands to qmail-lspawn, qmail-rspawn.
    pub to_spawn: [File; 2],
    /// fds 2 and 4: reports from them.
    pub from_spawn: [File; 2],
    /// fd 5: requests to qmail-clean.
    pub to_clean: File,
    /// fd 6: its answers.
    pub from_clean: File,
}

type Pq = BinaryHeap<Reverse<(i64, u64)>>;

/// The priority queues of message ids by due time.
#[derive(Debug, Default)]
struct Queues {
    /// Next attempt, per channel.
    chan: PerChan<Pq>,
    /// Finished on every channel: bounce and clean up.
    done: Pq,
    /// A stat failed: look again.
    fail: Pq,
}

/// A message being worked on on one channel.
#[derive(Debug)]
struct Job {
    refs: u32,
    id: u64,
    channel: Channel,
    retry: i64,
    sender: Vec<u8>,
    numtodo: u32,
    hiteof: bool,
    dying: bool,
}

impl Job {
    fn free() -> Job {
        Job {
            refs: 0,
            id: 0,
            channel: Channel::Local,
            retry: 0,
            sender: Vec::new(),
            numtodo: 0,
            hiteof: false,
            dying: false,
        }
    }
}

/// A delivery in progress in a spawner slot.
#[derive(Debug)]
struct Del {
    j: usize,
    delid: u64,
    mpos: u64,
    recip: Vec<u8>,
}

/// One spawner and its slots.
#[derive(Debug)]
struct Chan {
    to: File,
    from: File,
    alive: bool,
    /// The command being written (one at a time, as qmail).
    comm: Vec<u8>,
    comm_pos: usize,
    dels: Vec<Option<Del>>,
    used: u32,
    concurrency: u32,
    reports: ReportDecoder,
}

impl Chan {
    fn new(to: File, from: File, alive: bool, concurrency: u32) -> Chan {
        Chan {
            to,
            from,
            alive,
            comm: Vec::new(),
            comm_pos: 0,
            dels: (0..concurrency).map(|_| None).collect(),
            used: 0,
            concurrency,
            reports: ReportDecoder::new(),
        }
    }
}

/// The pass over one channel's file of one message.
#[derive(Debug, Default)]
struct Pass {
    /// 0: no pass; a new one is needed.
    id: u64,
    j: usize,
    /// The channel file, read a record at a time.
    file: Option<pass::ChanReader>,
}

/// The scan of `todo/`.
#[derive(Debug)]
struct TodoScan {
    dir: Option<fs::ReadDir>,
    next_run: i64,
    trigger: Option<File>,
}

/// The walk of `mess/` for leftovers.
#[derive(Debug)]
struct Cleanup {
    ids: Option<std::vec::IntoIter<u64>>,
    time: i64,
}

/// The daemon's state.
pub struct Send {
    home: Home,
    queue: QueueDir,
    ctl: Controls,
    log: Log,
    chan: PerChan<Chan>,
    to_clean: File,
    from_clean: File,
    pq: Queues,
    jobs: Vec<Job>,
    pass: PerChan<Pass>,
    masterdelid: u64,
    recent: i64,
    todo: TodoScan,
    cleanup: Cleanup,
    exitasap: bool,
    runasap: bool,
    readasap: bool,
    /// Damaged files set aside until restart.
    damaged: HashSet<u64>,
}

/// qmail-send's start-up failures: `alert: cannot start: ...`, exit 111.
fn cannot_start(log: &mut Log, why: &str) -> i32 {
    log.text(&format!("alert: cannot start: {why}\n"));
    111
}

fn is_enoent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_dir())
}

/// Start qmail-send: returns its exit code.
pub fn run(home: Home, fds: Fds) -> i32 {
    let mut log = Log::new(fds.log);
    let home = match std::path::absolute(home.root()) {
        Ok(p) if is_dir(&p) => Home::new(p),
        _ => return cannot_start(&mut log, "unable to switch to home directory"),
    };
    let ctl = match Controls::read(&home) {
        Ok(c) => c,
        Err(_) => return cannot_start(&mut log, "unable to read controls"),
    };
    let queue = QueueDir::new(home.root().join("queue"));
    if !is_dir(&queue.root) {
        return cannot_start(&mut log, "unable to switch to queue directory");
    }
    let Ok(selfpipe) = SelfPipe::install(&[Signal::SIGTERM, Signal::SIGALRM, Signal::SIGHUP])
    else {
        return cannot_start(&mut log, "unable to catch signals");
    };
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));

    let Ok(mutex) = OpenOptions::new()
        .write(true)
        .open(queue.path("lock/sendmutex"))
    else {
        return cannot_start(&mut log, "unable to open mutex");
    };
    let _lock = match nix::fcntl::Flock::lock(mutex, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err(_) => return cannot_start(&mut log, "qmail-send is already running"),
    };

    let Fds {
        to_spawn: [to0, to1],
        from_spawn: [mut from0, mut from1],
        to_clean,
        from_clean,
        ..
    } = fds;
    let mut conc = PerChan(ctl.concurrency);
    for (c, from) in Channel::ALL.into_iter().zip([&mut from0, &mut from1]) {
        let mut b = [0u8; 1];
        let n = loop {
            match from.read(&mut b) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        if !matches!(n, Ok(1)) {
            return cannot_start(&mut log, "hath the daemon spawn no fire?");
        }
        conc[c] = conc[c].min(u32::from(b[0]));
    }
    let mut alive = PerChan([true; 2]);
    for (c, to) in Channel::ALL.into_iter().zip([&to0, &to1]) {
        // Writes to the spawners must never block the loop.
        if set_nonblock(to).is_err() {
            log.text("alert: oh no! lost spawn connection! dying...\n");
            alive[c] = false;
        }
    }
    let chan = PerChan([
        Chan::new(to0, from0, alive.0[0], conc.0[0]),
        Chan::new(to1, from1, alive.0[1], conc.0[1]),
    ]);
    let mut s = Send::new(home, queue, ctl, log, chan, to_clean, from_clean);
    s.pq_start();
    s.del_status();
    s.trigger_set();
    s.event_loop(&selfpipe);
    s.pq_finish();
    s.log.text("status: exiting\n");
    0
}

fn set_nonblock(f: &impl std::os::fd::AsFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL)?);
    fcntl(f, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

impl Send {
    fn new(
        home: Home,
        queue: QueueDir,
        ctl: Controls,
        log: Log,
        chan: PerChan<Chan>,
        to_clean: File,
        from_clean: File,
    ) -> Send {
        let numjobs = chan.iter().map(|c| c.concurrency as usize).sum();
        let now = now_secs();
        let exitasap = !chan.iter().all(|c| c.alive);
        Send {
            home,
            queue,
            ctl,
            log,
            chan,
            to_clean,
            from_clean,
            pq: Queues::default(),
            jobs: (0..numjobs).map(|_| Job::free()).collect(),
            pass: PerChan::default(),
            masterdelid: 1,
            recent: now,
            todo: TodoScan {
                dir: None,
                next_run: now,
                trigger: None,
            },
            cleanup: Cleanup {
                ids: None,
                time: now,
            },
            exitasap,
            runasap: false,
            readasap: false,
            damaged: HashSet::new(),
        }
    }
}

/// A qmail-send without its helpers, for the unit tests of each part: a
/// queue made with [`layout::create`] in a temporary home, pipes in place
/// of the spawners and qmail-clean, the log in a file.
#[cfg(test)]
mod testing {
    use std::io::{PipeReader, PipeWriter, Write};

    use super::*;

    pub struct Rig {
        pub dir: tempfile::TempDir,
        pub send: Send,
        /// What qmail-send writes to the spawners.
        pub commands: [PipeReader; 2],
        /// Where the spawners' reports would come from.
        pub reports: [PipeWriter; 2],
        /// qmail-clean's side: requests, and the answers to give.
        pub clean_requests: PipeReader,
        pub clean_answers: PipeWriter,
        log: PathBuf,
    }

    fn file<T: Into<std::os::fd::OwnedFd>>(x: T) -> File {
        File::from(x.into())
    }

    impl Rig {
        /// Concurrency 10 local, 20 remote; `control/me` is
        /// `test.example`, a local domain.
        pub fn new() -> Rig {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().to_path_buf();
            fs::create_dir(home.join("control")).unwrap();
            fs::write(home.join("control/me"), "test.example\n").unwrap();
            layout::create(&home.join("queue"), None).unwrap();
            let ctl = Controls::read(&Home::new(&home)).unwrap();
            let logname = home.join("log");
            let log = Log::new(File::create(&logname).unwrap());
            let (c0r, c0w) = io::pipe().unwrap();
            let (c1r, c1w) = io::pipe().unwrap();
            let (r0r, r0w) = io::pipe().unwrap();
            let (r1r, r1w) = io::pipe().unwrap();
            let (qr, qw) = io::pipe().unwrap();
            let (ar, aw) = io::pipe().unwrap();
            // Every read end is non-blocking: a test whose expectation
            // is wrong fails at once instead of waiting forever.
            for r in [&c0r, &c1r, &r0r, &r1r, &qr, &ar] {
                set_nonblock(r).unwrap();
            }
            let chan = PerChan([
                Chan::new(file(c0w), file(r0r), true, ctl.concurrency[0]),
                Chan::new(file(c1w), file(r1r), true, ctl.concurrency[1]),
            ]);
            let send = Send::new(
                Home::new(&home),
                QueueDir::new(home.join("queue")),
                ctl,
                log,
                chan,
                file(qw),
                file(ar),
            );
            Rig {
                dir,
                send,
                commands: [c0r, c1r],
                reports: [r0w, r1w],
                clean_requests: qr,
                clean_answers: aw,
                log: logname,
            }
        }

        pub fn queue(&self) -> PathBuf {
            self.dir.path().join("queue")
        }

        /// Write a queue file by its qmail name.
        pub fn put(&self, rel: &str, bytes: &[u8]) {
            fs::write(self.queue().join(rel), bytes).unwrap();
        }

        pub fn get(&self, rel: &str) -> Vec<u8> {
            fs::read(self.queue().join(rel)).unwrap()
        }

        pub fn exists(&self, rel: &str) -> bool {
            self.queue().join(rel).exists()
        }

        /// A message file whose name is its inode number, as qmail-queue
        /// makes it; returns the id.
        pub fn mess(&self, text: &[u8]) -> u64 {
            use std::os::unix::fs::MetadataExt;
            let tmp = self.queue().join("pid/rig");
            fs::write(&tmp, text).unwrap();
            let id = fs::metadata(&tmp).unwrap().ino();
            fs::hard_link(&tmp, self.queue().join(layout::mess(id))).unwrap();
            fs::remove_file(&tmp).unwrap();
            id
        }

        /// qmail-clean's next answers, queued up in its pipe.
        pub fn answer_clean(&mut self, answers: &[u8]) {
            self.clean_answers.write_all(answers).unwrap();
        }

        /// The log so far.
        pub fn log(&self) -> String {
            String::from_utf8_lossy(&fs::read(&self.log).unwrap()).into_owned()
        }
    }
}
