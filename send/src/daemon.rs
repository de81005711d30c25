//! qmail-send itself (qmail-send.c): preprocesses new messages from
//! `todo/`, schedules deliveries through the spawners, retries, bounces,
//! and cleans up, all in one single-threaded loop around `poll`.
//!
//! The parts, in qmail's order:
//! - priority queues of message ids by time: one per channel (next
//!   attempt), `done` (finished, waiting for the bounce and cleanup) and
//!   `fail` (a stat failed, try again later);
//! - jobs: a message being worked on on one channel, with its retry time;
//! - passes: reading a channel file record by record, starting a delivery
//!   for each undone recipient while there is a free slot;
//! - deliveries: commands written to the spawners, reports read back,
//!   recipients marked done (`T` overwritten with `D`) or deferred;
//! - todo: new messages become `info`, `local`, `remote` files;
//! - cleanup: message files left by a qmail-queue that died are reaped
//!   after 36 hours.
//!
//! Every time is in whole seconds, as in qmail. The retry time of a job
//! survives a restart in the mtime of its channel file (written on exit).
//!
//! Damage: a todo file with an unknown record, or an info file that is not
//! `F...\0`, is logged once and set aside (left in place, not touched again
//! until qmail-send restarts), never retried in a loop and never a crash.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use control::Home;
use control::datetime::now_secs;
use control::qmail_queue::QueueClient;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use queue::layout;
use queue::records::{ChannelParser, ChannelRecord, TodoParser, TodoRecord, parse_info};
use sys::selfpipe::SelfPipe;

use crate::bounce::{self, Plan};
use crate::controls::Controls;
use crate::log::{Line, Log};
use crate::proto::{CleanRequest, Report, ReportDecoder, encode_command};
use crate::retry::{SKIP, next_retry};
use crate::rewrite::{Channel, sender_for};

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

const CHANNELS: usize = 2;
const STATUS_NAME: [&str; CHANNELS] = [" local ", " remote "];
const TO_CHAN: [&str; CHANNELS] = [" to local ", " to remote "];

/// New messages preprocessed before their files are synced together.
const TODO_BATCH: usize = 64;

/// A new message whose info and channel files are written but not yet
/// synced.
struct Prepared {
    id: u64,
    files: Vec<(String, File)>,
    has_chan: [bool; CHANNELS],
}

/// qmail-send's seven descriptors.
#[derive(Debug)]
pub struct Fds {
    /// fd 0: the log.
    pub log: File,
    /// fds 1 and 3: commands to qmail-lspawn, qmail-rspawn.
    pub to_spawn: [File; CHANNELS],
    /// fds 2 and 4: reports from them.
    pub from_spawn: [File; CHANNELS],
    /// fd 5: requests to qmail-clean.
    pub to_clean: File,
    /// fd 6: its answers.
    pub from_clean: File,
}

type Pq = BinaryHeap<Reverse<(i64, u64)>>;

#[derive(Debug, Default)]
struct Job {
    refs: u32,
    id: u64,
    channel: usize,
    retry: i64,
    sender: Vec<u8>,
    numtodo: u32,
    hiteof: bool,
    dying: bool,
}

#[derive(Debug)]
struct Del {
    j: usize,
    delid: u64,
    mpos: u64,
    recip: Vec<u8>,
}

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

#[derive(Debug, Default)]
struct Pass {
    /// 0: no pass; a new one is needed.
    id: u64,
    j: usize,
    records: Vec<ChannelRecord>,
    next: usize,
    /// A record after `records` was damaged.
    damaged: bool,
}

/// The daemon's state.
pub struct Send {
    home: Home,
    ctl: Controls,
    log: Log,
    chan: [Chan; CHANNELS],
    to_clean: File,
    from_clean: File,
    pq_done: Pq,
    pq_chan: [Pq; CHANNELS],
    pq_fail: Pq,
    jobs: Vec<Job>,
    pass: [Pass; CHANNELS],
    masterdelid: u64,
    recent: i64,
    // todo
    todo_dir: Option<fs::ReadDir>,
    next_todo_run: i64,
    trigger: Option<File>,
    // cleanup
    cleanup: Option<std::vec::IntoIter<u64>>,
    cleanup_time: i64,
    // flags
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

/// Start qmail-send: returns its exit code.
pub fn run(home: Home, fds: Fds) -> i32 {
    let mut log = Log::new(fds.log);
    let home = match std::path::absolute(home.root()) {
        Ok(p) => Home::new(p),
        Err(_) => return cannot_start(&mut log, "unable to switch to home directory"),
    };
    if std::env::set_current_dir(home.root()).is_err() {
        return cannot_start(&mut log, "unable to switch to home directory");
    }
    let ctl = match Controls::read(&home) {
        Ok(c) => c,
        Err(_) => return cannot_start(&mut log, "unable to read controls"),
    };
    if std::env::set_current_dir("queue").is_err() {
        return cannot_start(&mut log, "unable to switch to queue directory");
    }
    let Ok(selfpipe) = SelfPipe::install(&[Signal::SIGTERM, Signal::SIGALRM, Signal::SIGHUP])
    else {
        return cannot_start(&mut log, "unable to catch signals");
    };
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));

    let Ok(mutex) = OpenOptions::new().write(true).open("lock/sendmutex") else {
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
    let mut conc = [ctl.concurrency[0], ctl.concurrency[1]];
    for (c, from) in [&mut from0, &mut from1].into_iter().enumerate() {
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
    let mut spawn_alive = [true; CHANNELS];
    for (c, to) in [&to0, &to1].into_iter().enumerate() {
        // Writes to the spawners must never block the loop.
        if set_nonblock(to).is_err() {
            log.text("alert: oh no! lost spawn connection! dying...\n");
            spawn_alive[c] = false;
        }
    }
    let numjobs = (conc[0] + conc[1]) as usize;
    let mk = |to, from, c: usize| Chan {
        to,
        from,
        alive: spawn_alive[c],
        comm: Vec::new(),
        comm_pos: 0,
        dels: (0..conc[c]).map(|_| None).collect(),
        used: 0,
        concurrency: conc[c],
        reports: ReportDecoder::new(),
    };
    let now = now_secs();
    let mut s = Send {
        home,
        ctl,
        log,
        chan: [mk(to0, from0, 0), mk(to1, from1, 1)],
        to_clean,
        from_clean,
        pq_done: Pq::new(),
        pq_chan: [Pq::new(), Pq::new()],
        pq_fail: Pq::new(),
        jobs: (0..numjobs).map(|_| Job::default()).collect(),
        pass: [Pass::default(), Pass::default()],
        masterdelid: 1,
        recent: now,
        todo_dir: None,
        next_todo_run: now,
        trigger: None,
        cleanup: None,
        cleanup_time: now,
        exitasap: !spawn_alive.iter().all(|&a| a),
        runasap: false,
        readasap: false,
        damaged: HashSet::new(),
    };
    s.pq_start();
    s.del_status();
    s.trigger_set();
    s.event_loop(&selfpipe);
    s.pq_finish();
    s.log.text("status: exiting\n");
    0
}

fn set_nonblock(f: &File) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL)?);
    fcntl(f, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

fn chan_file(id: u64, c: usize) -> String {
    layout::channel(id, c == 1)
}

impl Send {
    // ------------------------------------------------------------ LOOP

    fn event_loop(&mut self, selfpipe: &SelfPipe) {
        while !self.exitasap || !self.del_canexit() {
            self.recent = now_secs();
            if self.runasap {
                self.runasap = false;
                self.pq_run();
            }
            if self.readasap {
                self.readasap = false;
                self.reread();
            }
            let mut wakeup = self.recent + SLEEP_FOREVER;
            self.pass_selprep(&mut wakeup);
            self.todo_selprep(&mut wakeup);
            self.cleanup_selprep(&mut wakeup);
            let secs = if wakeup <= self.recent {
                0
            } else {
                wakeup - self.recent + SLEEP_FUZZ
            };
            let timeout = PollTimeout::try_from((secs * 1000).min(i64::from(i32::MAX)) as i32)
                .unwrap_or(PollTimeout::MAX);

            // Which descriptors to watch, and what came back.
            let mut want_write = [false; CHANNELS];
            let mut want_read = [false; CHANNELS];
            for c in 0..CHANNELS {
                want_write[c] = self.chan[c].alive && !self.chan[c].comm.is_empty();
                want_read[c] = self.chan[c].alive;
            }
            let want_trigger = !self.exitasap && self.trigger.is_some();
            let mut wrote = [false; CHANNELS];
            let mut readable = [false; CHANNELS];
            let mut pulled = false;
            let polled = {
                let mut fds: Vec<PollFd> = vec![PollFd::new(selfpipe.as_fd(), PollFlags::POLLIN)];
                let mut slots = Vec::new();
                for c in 0..CHANNELS {
                    if want_write[c] {
                        slots.push((0, c));
                        fds.push(PollFd::new(self.chan[c].to.as_fd(), PollFlags::POLLOUT));
                    }
                    if want_read[c] {
                        slots.push((1, c));
                        fds.push(PollFd::new(self.chan[c].from.as_fd(), PollFlags::POLLIN));
                    }
                }
                if want_trigger && let Some(t) = &self.trigger {
                    slots.push((2, 0));
                    fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
                }
                let r = poll(&mut fds, timeout);
                for (k, &(kind, c)) in slots.iter().enumerate() {
                    let hit = fds[k + 1].revents().is_some_and(|r| !r.is_empty());
                    match kind {
                        0 => wrote[c] = hit,
                        1 => readable[c] = hit,
                        _ => pulled = hit,
                    }
                }
                r
            };
            for sig in selfpipe.drain() {
                match sig {
                    Signal::SIGTERM => self.exitasap = true,
                    Signal::SIGALRM => self.runasap = true,
                    Signal::SIGHUP => self.readasap = true,
                    _ => {}
                }
            }
            match polled {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.log.text("warning: trouble in select\n");
                    continue;
                }
                Ok(_) => {}
            }
            self.recent = now_secs();
            self.comm_do(wrote);
            self.del_do(readable);
            self.todo_do(pulled);
            self.pass_do();
            self.cleanup_do();
        }
    }

    fn reread(&mut self) {
        if let Err(msg) = self.ctl.reread(&self.home) {
            self.log.text(msg);
        }
    }

    // ------------------------------------------------------------ COMMUNICATION

    fn spawn_died(&mut self, c: usize) {
        self.log
            .text("alert: oh no! lost spawn connection! dying...\n");
        self.chan[c].alive = false;
        self.exitasap = true;
    }

    fn clean_died(&mut self) {
        self.log
            .text("alert: oh no! lost qmail-clean connection! dying...\n");
        self.exitasap = true;
    }

    fn comm_canwrite(&self, c: usize) -> bool {
        self.chan[c].comm.is_empty()
    }

    fn comm_do(&mut self, wrote: [bool; CHANNELS]) {
        for (c, &ready) in wrote.iter().enumerate() {
            let ch = &mut self.chan[c];
            if !ready || !ch.alive || ch.comm.is_empty() {
                continue;
            }
            match ch.to.write(&ch.comm[ch.comm_pos..]) {
                Ok(0) => {}
                Ok(w) => {
                    ch.comm_pos += w;
                    if ch.comm_pos == ch.comm.len() {
                        ch.comm.clear();
                        ch.comm_pos = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.spawn_died(c),
                Err(_) => {}
            }
        }
    }

    /// Ask qmail-clean; `true` when it answered `+`.
    fn clean(&mut self, req: CleanRequest) -> bool {
        let bytes = req.encode();
        if self.to_clean.write_all(&bytes).is_err() {
            self.clean_died();
            return false;
        }
        let mut b = [0u8; 1];
        loop {
            match self.from_clean.read(&mut b) {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => {
                    self.clean_died();
                    return false;
                }
            }
        }
        if b[0] != b'+' {
            let name = String::from_utf8_lossy(&bytes[..bytes.len() - 1]).into_owned();
            self.log
                .text(&format!("warning: qmail-clean unable to clean up {name}\n"));
            return false;
        }
        true
    }

    // ------------------------------------------------------------ CLEANUPS

    fn cleanup_selprep(&self, wakeup: &mut i64) {
        if self.cleanup.is_some() {
            *wakeup = 0;
        }
        if *wakeup > self.cleanup_time {
            *wakeup = self.cleanup_time;
        }
    }

    fn cleanup_do(&mut self) {
        if self.cleanup.is_none() {
            if self.recent < self.cleanup_time {
                return;
            }
            match layout::scan_split(std::path::Path::new("mess")) {
                Ok(ids) => self.cleanup = Some(ids.into_iter()),
                Err(_) => {
                    self.log
                        .text("alert: unable to opendir mess, sleeping...\n");
                    self.cleanup_time = self.recent + SLEEP_SYSFAIL;
                    return;
                }
            }
        }
        let Some(id) = self.cleanup.as_mut().and_then(Iterator::next) else {
            self.cleanup = None;
            self.cleanup_time = self.recent + SLEEP_CLEANUP;
            return;
        };
        let Ok(st) = fs::metadata(layout::mess(id)) else {
            return; // probably qmail-queue deleted it
        };
        if self.recent <= st.atime() + OSSIFIED {
            return;
        }
        for name in [layout::info(id), layout::todo(id)] {
            match fs::metadata(&name) {
                Ok(_) => return,
                Err(e) if is_enoent(&e) => {}
                Err(_) => return,
            }
        }
        self.clean(CleanRequest::Foop(id));
    }

    // ------------------------------------------------------------ PRIORITY QUEUES

    fn pq_add(&mut self, id: u64) {
        let fail = |s: &mut Send, name: &str| {
            s.log.text(&format!(
                "warning: unable to stat {name}; will try again later\n"
            ));
            s.pq_fail.push(Reverse((now_secs() + SLEEP_SYSFAIL, id)));
        };
        let info = layout::info(id);
        match fs::metadata(&info) {
            Ok(_) => {}
            Err(e) if is_enoent(&e) => return,
            Err(_) => return fail(self, &info),
        }
        let todo = layout::todo(id);
        match fs::metadata(&todo) {
            Ok(_) => return, // preprocessing was interrupted; todo will redo it
            Err(e) if is_enoent(&e) => {}
            Err(_) => return fail(self, &todo),
        }
        let mut found = [None; CHANNELS];
        for (c, f) in found.iter_mut().enumerate() {
            let name = chan_file(id, c);
            match fs::metadata(&name) {
                Ok(st) => *f = Some(st.mtime()),
                Err(e) if is_enoent(&e) => {}
                Err(_) => return fail(self, &name),
            }
        }
        for (c, f) in found.iter().enumerate() {
            if let Some(t) = f {
                self.pq_chan[c].push(Reverse((*t, id)));
            }
        }
        if found.iter().all(Option::is_none) {
            self.pq_done.push(Reverse((now_secs(), id)));
        }
    }

    fn pq_start(&mut self) {
        loop {
            match layout::scan_split(std::path::Path::new("info")) {
                Ok(ids) => {
                    for id in ids {
                        self.pq_add(id);
                    }
                    return;
                }
                Err(_) => {
                    self.log
                        .text("alert: unable to opendir info, sleeping...\n");
                    std::thread::sleep(std::time::Duration::from_secs(10));
                }
            }
        }
    }

    /// On exit: the next attempt of each waiting job becomes its channel
    /// file's mtime, so a restart keeps the schedule.
    fn pq_finish(&mut self) {
        for c in 0..CHANNELS {
            while let Some(Reverse((dt, id))) = self.pq_chan[c].pop() {
                let name = chan_file(id, c);
                let t = nix::sys::time::TimeVal::new(dt, 0);
                if nix::sys::stat::utimes(name.as_str(), &t, &t).is_err() {
                    self.log.text(&format!(
                        "warning: unable to utime {name}; message will be retried too soon\n"
                    ));
                }
            }
        }
    }

    /// SIGALRM: everything waiting is due now.
    fn pq_run(&mut self) {
        let recent = self.recent;
        for pq in &mut self.pq_chan {
            let items: Vec<_> = pq
                .drain()
                .map(|Reverse((_, id))| Reverse((recent, id)))
                .collect();
            pq.extend(items);
        }
    }

    // ------------------------------------------------------------ JOBS

    fn job_avail(&self) -> bool {
        self.jobs.iter().any(|j| j.refs == 0)
    }

    fn job_open(&mut self, id: u64, channel: usize) -> Option<usize> {
        let j = self.jobs.iter().position(|j| j.refs == 0)?;
        self.jobs[j] = Job {
            refs: 1,
            id,
            channel,
            ..Job::default()
        };
        Some(j)
    }

    fn job_close(&mut self, j: usize) {
        self.jobs[j].refs -= 1;
        if self.jobs[j].refs > 0 {
            return;
        }
        let (id, c) = (self.jobs[j].id, self.jobs[j].channel);
        let mut dt = self.jobs[j].retry;
        if self.jobs[j].hiteof && self.jobs[j].numtodo == 0 {
            let name = chan_file(id, c);
            if fs::remove_file(&name).is_err() {
                self.log.text(&format!(
                    "warning: unable to unlink {name}; will try again later\n"
                ));
                dt = now_secs() + SLEEP_SYSFAIL;
            } else {
                for other in 0..CHANNELS {
                    if other == c {
                        continue;
                    }
                    let name = chan_file(id, other);
                    match fs::metadata(&name) {
                        Ok(_) => return, // more channels going
                        Err(e) if is_enoent(&e) => {}
                        Err(_) => {
                            self.log.text(&format!("warning: unable to stat {name}\n"));
                            break;
                        }
                    }
                }
                self.pq_done.push(Reverse((now_secs(), id)));
                return;
            }
        }
        self.pq_chan[c].push(Reverse((dt, id)));
    }

    // ------------------------------------------------------------ BOUNCES

    /// The sender and birth time of a message, from its info file.
    /// `Err(true)` when the file is damaged rather than unreadable.
    fn get_info(&self, id: u64) -> Result<(Vec<u8>, i64), bool> {
        let name = layout::info(id);
        let mut f = File::open(&name).map_err(|_| false)?;
        let st = f.metadata().map_err(|_| false)?;
        let mut buf = Vec::new();
        Read::by_ref(&mut f)
            .take(64 * 1024)
            .read_to_end(&mut buf)
            .map_err(|_| false)?;
        let sender = parse_info(&buf).ok_or(true)?;
        Ok((sender, st.mtime()))
    }

    fn add_bounce(&mut self, id: u64, recip: &[u8], report: &[u8]) {
        let text = bounce::paragraph(self.ctl.rewrite.strip_vdom_prepend(recip), report);
        let name = layout::bounce(id);
        // bounce/ is not crash-proof (INTERNALS): a lost paragraph costs a
        // bounce, a duplicate one repeats a line.
        loop {
            let r = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&name)
                .and_then(|mut f| f.write_all(&text));
            if r.is_ok() {
                return;
            }
            self.log
                .text("alert: unable to append to bounce message; HELP! sleeping...\n");
            std::thread::sleep(std::time::Duration::from_secs(10));
        }
    }

    /// Send `bounce/N` if there is one; `false` means try again later.
    fn inject_bounce(&mut self, id: u64) -> bool {
        let Ok((sender, _)) = self.get_info(id) else {
            return false;
        };
        let sender = bounce::unverp(&sender).to_vec();
        let bname = layout::bounce(id);
        match fs::metadata(&bname) {
            Ok(_) => {}
            Err(e) if is_enoent(&e) => return true,
            Err(_) => {
                self.log.text(&format!("warning: unable to stat {bname}\n"));
                return false;
            }
        }
        match bounce::plan(&sender, &self.ctl.bounce) {
            Plan::Discard => self
                .log
                .text(&format!("triple bounce: discarding {bname}\n")),
            Plan::Send {
                sender: bsender,
                recip,
                double,
            } => {
                let Ok(mut qq) = QueueClient::open(&self.home) else {
                    self.log
                        .text("warning: unable to start qmail-queue, will try later\n");
                    return false;
                };
                let qp = qq.pid();
                qq.put(&bounce::head(&self.ctl.bounce, &recip, double, now_secs()));
                let copy = |qq: &mut QueueClient, name: &str| match File::open(name) {
                    Err(_) => qq.fail(),
                    Ok(mut f) => {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match f.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => qq.put(&buf[..n]),
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Err(_) => {
                                    qq.fail();
                                    break;
                                }
                            }
                        }
                    }
                };
                copy(&mut qq, &bname);
                qq.put(&bounce::separator(double, &sender));
                copy(&mut qq, &layout::mess(id));
                if qq.close(&bsender, &[&recip]).is_err() {
                    self.log
                        .text("warning: trouble injecting bounce message, will try later\n");
                    return false;
                }
                self.log.text(&format!("bounce msg {id} qp {qp}\n"));
            }
        }
        if fs::remove_file(&bname).is_err() {
            self.log
                .text(&format!("warning: unable to unlink {bname}\n"));
            return false;
        }
        true
    }

    // ------------------------------------------------------------ DELIVERIES

    fn del_status(&mut self) {
        let mut line = String::from("status:");
        for (name, ch) in STATUS_NAME.iter().zip(&self.chan) {
            line.push_str(&format!("{name}{}/{}", ch.used, ch.concurrency));
        }
        if self.exitasap {
            line.push_str(" exitasap");
        }
        line.push('\n');
        self.log.text(&line);
    }

    fn del_canexit(&self) -> bool {
        // A dead spawner's deliveries are lost to us anyway.
        self.chan.iter().all(|ch| !ch.alive || ch.used == 0)
    }

    fn del_avail(&self, c: usize) -> bool {
        let ch = &self.chan[c];
        ch.alive && self.comm_canwrite(c) && ch.used < ch.concurrency
    }

    fn del_start(&mut self, j: usize, mpos: u64, recip: &[u8]) {
        let c = self.jobs[j].channel;
        if !self.chan[c].alive || !self.comm_canwrite(c) {
            return;
        }
        let Some(i) = self.chan[c].dels.iter().position(Option::is_none) else {
            return;
        };
        let delid = self.masterdelid;
        self.masterdelid += 1;
        self.jobs[j].refs += 1;
        self.chan[c].dels[i] = Some(Del {
            j,
            delid,
            mpos,
            recip: recip.to_vec(),
        });
        self.chan[c].used += 1;
        let id = self.jobs[j].id;
        let sender = sender_for(&self.jobs[j].sender, recip);
        self.chan[c].comm =
            encode_command(i as u8, layout::split_path(id).as_bytes(), &sender, recip);
        self.chan[c].comm_pos = 0;
        let line = Line::new("starting delivery ")
            .raw(format!("{delid}: msg {id}{}", TO_CHAN[c]))
            .outside(recip)
            .end();
        self.log.line(&line);
        self.del_status();
    }

    fn mark_done(&mut self, c: usize, id: u64, pos: u64) {
        let name = chan_file(id, c);
        let ok = OpenOptions::new()
            .write(true)
            .open(&name)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(pos))?;
                f.write_all(b"D")
            })
            .is_ok();
        if !ok {
            self.log.text(&format!(
                "warning: trouble marking {name}; message will be delivered twice!\n"
            ));
        }
    }

    fn del_do(&mut self, readable: [bool; CHANNELS]) {
        for (c, &r) in readable.iter().enumerate() {
            if r && self.chan[c].alive {
                self.del_dochan(c);
            }
        }
    }

    fn del_dochan(&mut self, c: usize) {
        let mut buf = [0u8; 2048];
        let n = match self.chan[c].from.read(&mut buf) {
            Ok(0) => return self.spawn_died(c),
            Ok(n) => n,
            Err(_) => return,
        };
        let mut reports = Vec::new();
        self.chan[c].reports.feed(&buf[..n], &mut reports);
        for r in reports {
            self.del_report(c, r);
        }
    }

    fn del_report(&mut self, c: usize, mut r: Report) {
        let slot = usize::from(r.slot);
        let Some(del) = self.chan[c].dels.get_mut(slot).and_then(Option::take) else {
            self.log
                .text("warning: internal error: delivery report out of range\n");
            return;
        };
        let j = del.j;
        if r.result == b'Z' && self.jobs[j].dying {
            r.result = b'D';
            r.text.extend_from_slice(
                b"I'm not going to try again; this message has been in the queue too long.\n",
            );
        }
        let prefix = format!("delivery {}: ", del.delid);
        let id = self.jobs[j].id;
        match r.result {
            b'K' => {
                let l = Line::new(&prefix).raw("success: ").outside(&r.text).end();
                self.log.line(&l);
                self.mark_done(c, id, del.mpos);
                self.jobs[j].numtodo -= 1;
            }
            b'Z' => {
                let l = Line::new(&prefix).raw("deferral: ").outside(&r.text).end();
                self.log.line(&l);
            }
            b'D' => {
                let l = Line::new(&prefix).raw("failure: ").outside(&r.text).end();
                self.log.line(&l);
                self.add_bounce(id, &del.recip, &r.text);
                self.mark_done(c, id, del.mpos);
                self.jobs[j].numtodo -= 1;
            }
            _ => self
                .log
                .text(&format!("{prefix}report mangled, will defer\n")),
        }
        self.job_close(j);
        self.chan[c].used -= 1;
        self.del_status();
    }

    // ------------------------------------------------------------ PASSES

    fn pass_selprep(&self, wakeup: &mut i64) {
        if self.exitasap {
            return;
        }
        for c in 0..CHANNELS {
            if self.pass[c].id != 0 && self.del_avail(c) {
                *wakeup = 0;
                return;
            }
        }
        if self.job_avail() {
            for c in 0..CHANNELS {
                if self.pass[c].id == 0
                    && let Some(Reverse((dt, _))) = self.pq_chan[c].peek()
                {
                    *wakeup = (*wakeup).min(*dt);
                }
            }
        }
        for pq in [&self.pq_fail, &self.pq_done] {
            if let Some(Reverse((dt, _))) = pq.peek() {
                *wakeup = (*wakeup).min(*dt);
            }
        }
    }

    fn pass_dochan(&mut self, c: usize) {
        if self.exitasap {
            return;
        }
        if self.pass[c].id == 0 {
            if !self.job_avail() {
                return;
            }
            let Some(&Reverse((dt, id))) = self.pq_chan[c].peek() else {
                return;
            };
            if dt > self.recent {
                return;
            }
            self.pq_chan[c].pop();
            let name = chan_file(id, c);
            if self.damaged.contains(&id) {
                return;
            }
            let bytes = match fs::read(&name) {
                Ok(b) => b,
                Err(_) => return self.pass_trouble(c, id, &name),
            };
            let (sender, birth) = match self.get_info(id) {
                Ok(x) => x,
                Err(true) => {
                    self.damaged.insert(id);
                    self.log.text(&format!(
                        "warning: damaged {}; message set aside\n",
                        layout::info(id)
                    ));
                    return;
                }
                Err(false) => return self.pass_trouble(c, id, &name),
            };
            let mut records = Vec::new();
            let damaged = ChannelParser::new().feed(&bytes, &mut records).is_err();
            let j = self.job_open(id, c).expect("job_avail said yes");
            self.jobs[j].retry = next_retry(birth, self.recent, SKIP[c]);
            self.jobs[j].dying = self.recent > birth.saturating_add(self.ctl.lifetime);
            self.jobs[j].sender = sender;
            self.pass[c] = Pass {
                id,
                j,
                records,
                next: 0,
                damaged,
            };
        }
        if !self.del_avail(c) {
            return;
        }
        let j = self.pass[c].j;
        let Some(rec) = self.pass[c].records.get(self.pass[c].next).cloned() else {
            if self.pass[c].damaged {
                let name = chan_file(self.pass[c].id, c);
                self.log
                    .text(&format!("warning: unknown record type in {name}!\n"));
            } else {
                self.jobs[j].hiteof = true;
            }
            self.pass[c].id = 0;
            self.job_close(j);
            return;
        };
        self.pass[c].next += 1;
        if !rec.done {
            self.jobs[j].numtodo += 1;
            self.del_start(j, rec.offset, &rec.addr);
        }
    }

    fn pass_trouble(&mut self, c: usize, id: u64, name: &str) {
        self.log.text(&format!(
            "warning: trouble opening {name}; will try again later\n"
        ));
        self.pq_chan[c].push(Reverse((self.recent + SLEEP_SYSFAIL, id)));
    }

    fn mess_done(&mut self, id: u64) {
        let fail = |s: &mut Send| s.pq_done.push(Reverse((now_secs() + SLEEP_SYSFAIL, id)));
        for c in 0..CHANNELS {
            let name = chan_file(id, c);
            match fs::metadata(&name) {
                Ok(_) => return, // false alarm
                Err(e) if is_enoent(&e) => {}
                Err(_) => {
                    self.log.text(&format!(
                        "warning: unable to stat {name}; will try again later\n"
                    ));
                    return fail(self);
                }
            }
        }
        let todo = layout::todo(id);
        match fs::metadata(&todo) {
            Ok(_) => return,
            Err(e) if is_enoent(&e) => {}
            Err(_) => {
                self.log.text(&format!(
                    "warning: unable to stat {todo}; will try again later\n"
                ));
                return fail(self);
            }
        }
        let info = layout::info(id);
        match fs::metadata(&info) {
            Ok(_) => {}
            Err(e) if is_enoent(&e) => return,
            Err(_) => {
                self.log.text(&format!(
                    "warning: unable to stat {info}; will try again later\n"
                ));
                return fail(self);
            }
        }
        if !self.inject_bounce(id) {
            return fail(self);
        }
        self.log.text(&format!("end msg {id}\n"));
        if fs::remove_file(&info).is_err() {
            self.log.text(&format!(
                "warning: unable to unlink {info}; will try again later\n"
            ));
            return fail(self);
        }
        self.clean(CleanRequest::Foop(id));
    }

    fn pass_do(&mut self) {
        for c in 0..CHANNELS {
            self.pass_dochan(c);
        }
        if let Some(&Reverse((dt, id))) = self.pq_fail.peek()
            && dt <= self.recent
        {
            self.pq_fail.pop();
            self.pq_add(id);
        }
        if let Some(&Reverse((dt, id))) = self.pq_done.peek()
            && dt <= self.recent
        {
            self.pq_done.pop();
            self.mess_done(id);
        }
    }

    // ------------------------------------------------------------ TODO

    /// Re-arm the trigger: empty the fifo and open it afresh (after the
    /// last writer closes, a fifo stays "hung up" for its old reader). The
    /// old descriptor is closed before the new one opens, or the pipe, and
    /// the byte in it, would live on.
    fn trigger_set(&mut self) {
        if let Some(mut t) = self.trigger.take() {
            let mut buf = [0u8; 64];
            while matches!(t.read(&mut buf), Ok(n) if n > 0) {}
        }
        self.trigger = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("lock/trigger")
            .ok();
    }

    fn todo_selprep(&self, wakeup: &mut i64) {
        if self.exitasap {
            return;
        }
        if self.todo_dir.is_some() {
            *wakeup = 0;
        }
        if *wakeup > self.next_todo_run {
            *wakeup = self.next_todo_run;
        }
    }

    fn todo_do(&mut self, pulled: bool) {
        if self.exitasap {
            return;
        }
        if self.todo_dir.is_none() {
            if !pulled && self.recent < self.next_todo_run {
                return;
            }
            self.trigger_set();
            match fs::read_dir("todo") {
                Ok(d) => self.todo_dir = Some(d),
                Err(_) => {
                    self.log
                        .text("alert: unable to opendir todo, sleeping...\n");
                    std::thread::sleep(std::time::Duration::from_secs(10));
                    return;
                }
            }
            self.next_todo_run = self.recent + SLEEP_TODO;
        }
        // Take a batch of new messages: each is written without waiting,
        // then all their files are synced together, so a burst costs a few
        // journal commits instead of two per message. Nothing is removed
        // from todo/ before its files are synced.
        let mut batch = Vec::new();
        while batch.len() < TODO_BATCH {
            let Some(entry) = self.todo_dir.as_mut().and_then(Iterator::next) else {
                self.todo_dir = None;
                break;
            };
            let Ok(entry) = entry else { continue };
            let Some(id) = layout::parse_id(entry.file_name().as_encoded_bytes()) else {
                continue;
            };
            if self.damaged.contains(&id) {
                continue;
            }
            if let Some(p) = self.todo_prepare(id) {
                batch.push(p);
            }
        }
        for p in batch {
            self.todo_commit(p);
        }
    }

    /// Preprocess one new message up to the sync: read and check its todo
    /// file, write info and the channel files. `None` after a failure,
    /// which leaves `todo/N` for the next scan.
    fn todo_prepare(&mut self, id: u64) -> Option<Prepared> {
        let todo = layout::todo(id);
        let Ok(mut fd) = File::open(&todo) else {
            self.log.text(&format!("warning: unable to open {todo}\n"));
            return None;
        };
        let mess = layout::mess(id);
        let Ok(st) = fs::metadata(&mess) else {
            self.log.text(&format!("warning: unable to stat {mess}\n"));
            return None;
        };
        // Read and check the whole todo file before writing anything, so
        // a damaged one is set aside with nothing half made.
        let mut records = Vec::new();
        let mut parser = TodoParser::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match fd.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.log.text(&format!("warning: trouble reading {todo}\n"));
                    return None;
                }
            };
            if parser.feed(&buf[..n], &mut records).is_err() {
                self.damaged.insert(id);
                self.log.text(&format!(
                    "warning: unknown record type in {todo}; message set aside\n"
                ));
                return None;
            }
        }
        drop(fd);
        if !records.iter().any(|r| matches!(r, TodoRecord::From(_))) {
            self.damaged.insert(id);
            self.log.text(&format!(
                "warning: no sender in {todo}; message set aside\n"
            ));
            return None;
        }
        for c in 0..CHANNELS {
            let name = chan_file(id, c);
            if let Err(e) = fs::remove_file(&name)
                && !is_enoent(&e)
            {
                self.log
                    .text(&format!("warning: unable to unlink {name}\n"));
                return None;
            }
        }
        let info = layout::info(id);
        if let Err(e) = fs::remove_file(&info)
            && !is_enoent(&e)
        {
            self.log
                .text(&format!("warning: unable to unlink {info}\n"));
            return None;
        }
        let create = |name: &str| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(name)
        };
        let Ok(mut finfo) = create(&info) else {
            self.log
                .text(&format!("warning: unable to create {info}\n"));
            return None;
        };
        self.log.text(&format!("new msg {id}\n"));

        let (mut uid, mut pid) = (0, 0);
        let mut info_bytes = Vec::new();
        let mut chan_bytes: [Vec<u8>; CHANNELS] = [Vec::new(), Vec::new()];
        let mut has_chan = [false; CHANNELS];
        for rec in records {
            match rec {
                TodoRecord::Uid(u) => uid = u,
                TodoRecord::Pid(p) => pid = p,
                TodoRecord::From(f) => {
                    info_bytes.push(b'F');
                    info_bytes.extend_from_slice(&f);
                    info_bytes.push(0);
                    let l = Line::new(&format!("info msg {id}: bytes {} from <", st.len()))
                        .outside(&f)
                        .raw(format!("> qp {pid} uid {uid}"))
                        .end();
                    self.log.line(&l);
                }
                TodoRecord::To(t) => {
                    let (chan, addr) = self.ctl.rewrite.rewrite(&t);
                    let c = if chan == Channel::Remote { 1 } else { 0 };
                    has_chan[c] = true;
                    chan_bytes[c].push(b'T');
                    chan_bytes[c].extend_from_slice(&addr);
                    chan_bytes[c].push(0);
                }
            }
        }
        if finfo.write_all(&info_bytes).is_err() {
            self.log
                .text(&format!("warning: trouble writing to {info}\n"));
            return None;
        }
        let mut files = vec![(info, finfo)];
        for c in 0..CHANNELS {
            if !has_chan[c] {
                continue;
            }
            let name = chan_file(id, c);
            let Ok(mut f) = create(&name) else {
                self.log
                    .text(&format!("warning: unable to create {name}\n"));
                return None;
            };
            if f.write_all(&chan_bytes[c]).is_err() {
                self.log
                    .text(&format!("warning: trouble writing to {name}\n"));
                return None;
            }
            files.push((name, f));
        }
        Some(Prepared {
            id,
            files,
            has_chan,
        })
    }

    /// Sync a prepared message's files, have qmail-clean remove its todo
    /// entry and schedule its first deliveries.
    fn todo_commit(&mut self, p: Prepared) {
        let id = p.id;
        for (name, f) in &p.files {
            if f.sync_all().is_err() {
                self.log
                    .text(&format!("warning: trouble fsyncing {name}\n"));
                return;
            }
        }
        drop(p.files);
        if !self.clean(CleanRequest::Todo(id)) {
            return;
        }
        let has_chan = p.has_chan;
        let now = now_secs();
        for (pq, &has) in self.pq_chan.iter_mut().zip(&has_chan) {
            if has {
                pq.push(Reverse((now, id)));
            }
        }
        if !has_chan.iter().any(|&h| h) {
            self.pq_done.push(Reverse((now, id)));
        }
    }
}
