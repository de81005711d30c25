//! New messages: each `todo/N` that qmail-queue left becomes `info/N`
//! (the sender) and `local/N`, `remote/N` (the recipients, rewritten and
//! sorted by channel), synced in batches; then qmail-clean removes the
//! todo file and the message is scheduled. The trigger fifo wakes the scan.

use std::cmp::Reverse;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;

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

    /// Preprocess one new message up to the sync: read and check its todo
    /// file, write info and the channel files. `None` after a failure,
    /// which leaves `todo/N` for the next scan.
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
        let create = |name: &str| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(self.queue.path(name))
        };
        let Ok(mut finfo) = create(&info) else {
            self.log
                .text(&format!("warning: unable to create {info}\n"));
            return None;
        };
        self.log.text(&format!("new msg {id}\n"));

        let (mut uid, mut pid) = (0, 0);
        let mut info_bytes = Vec::new();
        let mut chan_bytes: PerChan<Vec<u8>> = PerChan::default();
        let mut has_chan = PerChan([false; 2]);
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
                    let (c, addr) = self.ctl.rewrite.rewrite(&t);
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
        for c in Channel::ALL {
            if !has_chan[c] {
                continue;
            }
            let name = QueueDir::chan_name(id, c);
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
            assert!(!rig.exists(&layout::channel(m, false)));
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
}
