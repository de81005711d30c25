//! New messages: each `todo/N` that qmail-queue left becomes `info/N`
//! (the sender) and `local/N`, `remote/N` (the recipients, rewritten and
//! sorted by channel), synced in batches; then qmail-clean removes the
//! todo file and the message is scheduled. The trigger fifo wakes the scan.

use std::cmp::Reverse;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use control::datetime::now_secs;
use queue::layout;
use queue::records::{TodoParser, TodoRecord};

use super::{PerChan, QueueDir, SLEEP_TODO, Send, is_enoent};
use crate::log::Line;
use crate::proto::CleanRequest;
use crate::rewrite::Channel;

/// New messages preprocessed before their files are synced together.
const TODO_BATCH: usize = 64;

/// A new message whose info and channel files are written but not yet
/// synced.
pub(super) struct Prepared {
    id: u64,
    files: Vec<(String, File)>,
    has_chan: PerChan<bool>,
}

/// Why a todo file could not be read through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TodoTrouble {
    Read,
    /// A record qmail-send does not know.
    Damaged,
}

/// Read a todo file from where it is, a piece at a time, handing each
/// record to `f`: memory stays at one buffer and one record.
fn each_todo_record(fd: &mut File, mut f: impl FnMut(TodoRecord)) -> Result<(), TodoTrouble> {
    let mut parser = TodoParser::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut records = Vec::new();
    loop {
        let n = match fd.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(TodoTrouble::Read),
        };
        let fed = parser.feed(&buf[..n], &mut records);
        for r in records.drain(..) {
            f(r);
        }
        if fed.is_err() {
            return Err(TodoTrouble::Damaged);
        }
    }
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A file being written through a small buffer, with its qmail name for
/// the log.
struct Output {
    name: String,
    w: BufWriter<File>,
}

impl Output {
    fn new(name: String, f: File) -> Output {
        Output {
            name,
            w: BufWriter::with_capacity(8 * 1024, f),
        }
    }

    /// Write `<kind><addr>\0`; the log line if that fails.
    fn record(&mut self, kind: u8, addr: &[u8]) -> Result<(), String> {
        let r = self
            .w
            .write_all(&[kind])
            .and_then(|()| self.w.write_all(addr))
            .and_then(|()| self.w.write_all(b"\0"));
        r.map_err(|_| format!("warning: trouble writing to {}\n", self.name))
    }

    /// Flush; the file, still to be synced.
    fn finish(self) -> Result<(String, File), String> {
        let name = self.name;
        match self.w.into_inner() {
            Ok(f) => Ok((name, f)),
            Err(_) => Err(format!("warning: trouble writing to {name}\n")),
        }
    }
}

/// The files of a message being preprocessed: info, and a channel file
/// once a recipient for it comes.
struct Outputs {
    info: Output,
    chan: PerChan<Option<Output>>,
}

impl Send {
    /// Re-arm the trigger: empty the fifo and open it afresh (after the
    /// last writer closes, a fifo stays "hung up" for its old reader). The
    /// old descriptor is closed before the new one opens, or the pipe, and
    /// the byte in it, would live on.
    pub(super) fn trigger_set(&mut self) {
        if let Some(mut t) = self.todo.trigger.take() {
            let mut buf = [0u8; 64];
            while matches!(t.read(&mut buf), Ok(n) if n > 0) {}
        }
        self.todo.trigger = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.queue.path("lock/trigger"))
            .ok();
    }

    pub(super) fn todo_selprep(&self, wakeup: &mut i64) {
        if self.exitasap {
            return;
        }
        if self.todo.dir.is_some() {
            *wakeup = 0;
        }
        if *wakeup > self.todo.next_run {
            *wakeup = self.todo.next_run;
        }
    }

    pub(super) fn todo_do(&mut self, pulled: bool) {
        if self.exitasap {
            return;
        }
        if self.todo.dir.is_none() {
            if !pulled && self.recent < self.todo.next_run {
                return;
            }
            self.trigger_set();
            match fs::read_dir(self.queue.path("todo")) {
                Ok(d) => self.todo.dir = Some(d),
                Err(_) => {
                    self.log
                        .text("alert: unable to opendir todo, sleeping...\n");
                    std::thread::sleep(std::time::Duration::from_secs(10));
                    return;
                }
            }
            self.todo.next_run = self.recent + SLEEP_TODO;
        }
        // Take a batch of new messages: each is written without waiting,
        // then all their files are synced together, so a burst costs a few
        // journal commits instead of two per message. Nothing is removed
        // from todo/ before its files are synced.
        let mut batch = Vec::new();
        while batch.len() < TODO_BATCH {
            let Some(entry) = self.todo.dir.as_mut().and_then(Iterator::next) else {
                self.todo.dir = None;
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

    /// Preprocess one new message up to the sync: check its todo file,
    /// write info and the channel files. `None` after a failure, which
    /// leaves `todo/N` for the next scan.
    ///
    /// The todo file is read twice through a small buffer, never held
    /// whole (an envelope can be as big as qmail-queue allows): first to
    /// check it, so a damaged one is set aside with nothing half made,
    /// then to write each record as it comes, as qmail does.
    pub(super) fn todo_prepare(&mut self, id: u64) -> Option<Prepared> {
        let todo = layout::todo(id);
        let Ok(mut fd) = File::open(self.queue.path(&todo)) else {
            self.log.text(&format!("warning: unable to open {todo}\n"));
            return None;
        };
        let mess = layout::mess(id);
        let Ok(st) = fs::metadata(self.queue.path(&mess)) else {
            self.log.text(&format!("warning: unable to stat {mess}\n"));
            return None;
        };
        let mut has_from = false;
        match each_todo_record(&mut fd, |r| has_from |= matches!(r, TodoRecord::From(_))) {
            Ok(()) => {}
            Err(TodoTrouble::Read) => {
                self.log.text(&format!("warning: trouble reading {todo}\n"));
                return None;
            }
            Err(TodoTrouble::Damaged) => {
                self.damaged.insert(id);
                self.log.text(&format!(
                    "warning: unknown record type in {todo}; message set aside\n"
                ));
                return None;
            }
        }
        if !has_from {
            self.damaged.insert(id);
            self.log.text(&format!(
                "warning: no sender in {todo}; message set aside\n"
            ));
            return None;
        }
        for c in Channel::ALL {
            let name = QueueDir::chan_name(id, c);
            if let Err(e) = fs::remove_file(self.queue.path(&name))
                && !is_enoent(&e)
            {
                self.log
                    .text(&format!("warning: unable to unlink {name}\n"));
                return None;
            }
        }
        let info = layout::info(id);
        if let Err(e) = fs::remove_file(self.queue.path(&info))
            && !is_enoent(&e)
        {
            self.log
                .text(&format!("warning: unable to unlink {info}\n"));
            return None;
        }
        let Ok(finfo) = create(&self.queue.path(&info)) else {
            self.log
                .text(&format!("warning: unable to create {info}\n"));
            return None;
        };
        self.log.text(&format!("new msg {id}\n"));

        if fd.seek(SeekFrom::Start(0)).is_err() {
            self.log.text(&format!("warning: trouble reading {todo}\n"));
            return None;
        }
        let mut out = Outputs {
            info: Output::new(info, finfo),
            chan: PerChan([None, None]),
        };
        let (mut uid, mut pid) = (0, 0);
        // The first failure to create or write a file, by its message.
        let mut trouble: Option<String> = None;
        let read = each_todo_record(&mut fd, |rec| {
            if trouble.is_some() {
                return;
            }
            match rec {
                TodoRecord::Uid(u) => uid = u,
                TodoRecord::Pid(p) => pid = p,
                TodoRecord::From(f) => {
                    let l = Line::new(&format!("info msg {id}: bytes {} from <", st.len()))
                        .outside(&f)
                        .raw(format!("> qp {pid} uid {uid}"))
                        .end();
                    self.log.line(&l);
                    trouble = out.info.record(b'F', &f).err();
                }
                TodoRecord::To(t) => {
                    let (c, addr) = self.ctl.rewrite.rewrite(&t);
                    if out.chan[c].is_none() {
                        let name = QueueDir::chan_name(id, c);
                        match create(&self.queue.path(&name)) {
                            Ok(f) => out.chan[c] = Some(Output::new(name, f)),
                            Err(_) => {
                                trouble = Some(format!("warning: unable to create {name}\n"));
                                return;
                            }
                        }
                    }
                    if let Some(o) = out.chan[c].as_mut() {
                        trouble = o.record(b'T', &addr).err();
                    }
                }
            }
        });
        if read.is_err() {
            // Checked a moment ago: only a read error can get here.
            self.log.text(&format!("warning: trouble reading {todo}\n"));
            return None;
        }
        if let Some(msg) = trouble {
            self.log.text(&msg);
            return None;
        }
        let has_chan = PerChan([out.chan.0[0].is_some(), out.chan.0[1].is_some()]);
        let mut files = Vec::new();
        for o in [Some(out.info)].into_iter().chain(out.chan.0).flatten() {
            match o.finish() {
                Ok(f) => files.push(f),
                Err(msg) => {
                    self.log.text(&msg);
                    return None;
                }
            }
        }
        Some(Prepared {
            id,
            files,
            has_chan,
        })
    }

    /// Sync a prepared message's files, have qmail-clean remove its todo
    /// entry and schedule its first deliveries.
    pub(super) fn todo_commit(&mut self, p: Prepared) {
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
        let now = now_secs();
        for c in Channel::ALL {
            if p.has_chan[c] {
                self.pq.chan[c].push(Reverse((now, id)));
            }
        }
        if !p.has_chan.iter().any(|&h| h) {
            self.pq.done.push(Reverse((now, id)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Rig;
    use super::*;

    #[test]
    fn a_new_message_becomes_info_and_channel_files() {
        let mut rig = Rig::new();
        let id = rig.mess(b"Subject: x\n\n");
        rig.put(
            &layout::todo(id),
            b"u1001\0p4242\0Falice@test.example\0Tbob@test.example\0\
              Tcarol@elsewhere.example\0Tdave\0",
        );
        let p = rig.send.todo_prepare(id).unwrap();
        rig.answer_clean(b"+");
        rig.send.todo_commit(p);
        let split = id % 23;
        assert_eq!(
            rig.get(&format!("info/{split}/{id}")),
            b"Falice@test.example\0"
        );
        assert_eq!(
            rig.get(&format!("local/{split}/{id}")),
            b"Tbob@test.example\0Tdave@test.example\0"
        );
        assert_eq!(
            rig.get(&format!("remote/{split}/{id}")),
            b"Tcarol@elsewhere.example\0"
        );
        assert_eq!(
            rig.log(),
            format!(
                "new msg {id}\ninfo msg {id}: bytes 12 from <alice@test.example> qp 4242 uid 1001\n"
            )
        );
        assert_eq!(rig.send.pq.chan[Channel::Local].len(), 1);
        assert_eq!(rig.send.pq.chan[Channel::Remote].len(), 1);
        assert!(rig.send.pq.done.is_empty());
    }

    #[test]
    fn damaged_todo_files_are_set_aside_with_nothing_made() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::todo(id), b"u1\0p2\0Fa@b\0Xjunk\0Tc@test.example\0");
        assert!(rig.send.todo_prepare(id).is_none());
        let no_from = rig.mess(b"x\n");
        rig.put(&layout::todo(no_from), b"u1\0p2\0Tc@test.example\0");
        assert!(rig.send.todo_prepare(no_from).is_none());
        assert_eq!(
            rig.log(),
            format!(
                "warning: unknown record type in todo/{id}; message set aside\n\
                 warning: no sender in todo/{no_from}; message set aside\n"
            )
        );
        for m in [id, no_from] {
            assert!(rig.send.damaged.contains(&m));
            assert!(!rig.exists(&layout::info(m)));
            assert!(!rig.exists(&layout::channel(m, Channel::Local)));
        }
    }

    #[test]
    fn a_scan_takes_every_message_in_todo() {
        let mut rig = Rig::new();
        let ids: Vec<u64> = (0..3)
            .map(|_| {
                let id = rig.mess(b"x\n");
                rig.put(&layout::todo(id), b"u1\0p2\0Fa@b\0");
                id
            })
            .collect();
        rig.put("todo/notanumber", b"junk");
        rig.answer_clean(b"+++");
        rig.send.recent = now_secs();
        rig.send.todo_do(true);
        let mut done: Vec<u64> = rig.send.pq.done.iter().map(|Reverse((_, i))| *i).collect();
        done.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(done, want);
        assert!(rig.send.todo.dir.is_none());
    }

    #[test]
    fn a_big_todo_file_is_written_record_by_record() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        let mut todo = b"u1\0p2\0Fa@b\0".to_vec();
        let mut local = Vec::new();
        for i in 0..5000 {
            let addr = format!("user{i}-{}@test.example", "y".repeat(i % 90));
            todo.extend_from_slice(format!("T{addr}\0").as_bytes());
            local.extend_from_slice(format!("T{addr}\0").as_bytes());
        }
        assert!(todo.len() > 4 * 16 * 1024);
        rig.put(&layout::todo(id), &todo);
        let p = rig.send.todo_prepare(id).unwrap();
        assert_eq!(rig.get(&layout::channel(id, Channel::Local)), local);
        assert!(!rig.exists(&layout::channel(id, Channel::Remote)));
        assert_eq!(p.has_chan, PerChan([true, false]));
    }
}
