//! The priority queues of message ids by time, the jobs (a message on one
//! channel), and the cleanup of message files a dead qmail-queue left.

use std::cmp::Reverse;
use std::fs;
use std::os::unix::fs::MetadataExt;

use control::datetime::now_secs;
use queue::layout;

use super::{Job, OSSIFIED, QueueDir, SLEEP_CLEANUP, SLEEP_SYSFAIL, Send, is_enoent};
use crate::proto::CleanRequest;
use crate::rewrite::Channel;

impl Send {
    /// File a message found in `info/` where it belongs: the queue of
    /// each channel it still has a file for, or `done`.
    pub(super) fn pq_add(&mut self, id: u64) {
        let fail = |s: &mut Send, name: &str| {
            s.log.text(&format!(
                "warning: unable to stat {name}; will try again later\n"
            ));
            s.pq.fail.push(Reverse((now_secs() + SLEEP_SYSFAIL, id)));
        };
        let info = layout::info(id);
        match fs::metadata(self.queue.path(&info)) {
            Ok(_) => {}
            Err(e) if is_enoent(&e) => return,
            Err(_) => return fail(self, &info),
        }
        let todo = layout::todo(id);
        match fs::metadata(self.queue.path(&todo)) {
            Ok(_) => return, // preprocessing was interrupted; todo will redo it
            Err(e) if is_enoent(&e) => {}
            Err(_) => return fail(self, &todo),
        }
        let mut found = [None; 2];
        for (c, f) in Channel::ALL.into_iter().zip(found.iter_mut()) {
            let name = QueueDir::chan_name(id, c);
            match fs::metadata(self.queue.path(&name)) {
                Ok(st) => *f = Some(st.mtime()),
                Err(e) if is_enoent(&e) => {}
                Err(_) => return fail(self, &name),
            }
        }
        for (c, f) in Channel::ALL.into_iter().zip(found) {
            if let Some(t) = f {
                self.pq.chan[c].push(Reverse((t, id)));
            }
        }
        if found.iter().all(Option::is_none) {
            self.pq.done.push(Reverse((now_secs(), id)));
        }
    }

    pub(super) fn pq_start(&mut self) {
        loop {
            match layout::scan_split(&self.queue.path("info")) {
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
    pub(super) fn pq_finish(&mut self) {
        for c in Channel::ALL {
            while let Some(Reverse((dt, id))) = self.pq.chan[c].pop() {
                let name = QueueDir::chan_name(id, c);
                let t = nix::sys::time::TimeVal::new(dt, 0);
                if nix::sys::stat::utimes(&self.queue.path(&name), &t, &t).is_err() {
                    self.log.text(&format!(
                        "warning: unable to utime {name}; message will be retried too soon\n"
                    ));
                }
            }
        }
    }

    /// SIGALRM: everything waiting is due now.
    pub(super) fn pq_run(&mut self) {
        let recent = self.recent;
        for pq in &mut self.pq.chan.0 {
            let items: Vec<_> = pq
                .drain()
                .map(|Reverse((_, id))| Reverse((recent, id)))
                .collect();
            pq.extend(items);
        }
    }

    pub(super) fn job_avail(&self) -> bool {
        self.jobs.iter().any(|j| j.refs == 0)
    }

    pub(super) fn job_open(&mut self, id: u64, channel: Channel) -> Option<usize> {
        let j = self.jobs.iter().position(|j| j.refs == 0)?;
        self.jobs[j] = Job {
            refs: 1,
            id,
            channel,
            ..Job::free()
        };
        Some(j)
    }

    /// Drop a reference; the last one ends the job: the channel file goes
    /// when every recipient in it is done, else the message waits for its
    /// retry time.
    pub(super) fn job_close(&mut self, j: usize) {
        self.jobs[j].refs -= 1;
        if self.jobs[j].refs > 0 {
            return;
        }
        let (id, c) = (self.jobs[j].id, self.jobs[j].channel);
        let mut dt = self.jobs[j].retry;
        if self.jobs[j].hiteof && self.jobs[j].numtodo == 0 {
            let name = QueueDir::chan_name(id, c);
            if fs::remove_file(self.queue.path(&name)).is_err() {
                self.log.text(&format!(
                    "warning: unable to unlink {name}; will try again later\n"
                ));
                dt = now_secs() + SLEEP_SYSFAIL;
            } else {
                for other in Channel::ALL {
                    if other == c {
                        continue;
                    }
                    let name = QueueDir::chan_name(id, other);
                    match fs::metadata(self.queue.path(&name)) {
                        Ok(_) => return, // more channels going
                        Err(e) if is_enoent(&e) => {}
                        Err(_) => {
                            self.log.text(&format!("warning: unable to stat {name}\n"));
                            break;
                        }
                    }
                }
                self.pq.done.push(Reverse((now_secs(), id)));
                return;
            }
        }
        self.pq.chan[c].push(Reverse((dt, id)));
    }

    pub(super) fn cleanup_selprep(&self, wakeup: &mut i64) {
        if self.cleanup.ids.is_some() {
            *wakeup = 0;
        }
        if *wakeup > self.cleanup.time {
            *wakeup = self.cleanup.time;
        }
    }

    /// One step of the walk of `mess/`: a message file with neither info
    /// nor todo, untouched for 36 hours, goes to qmail-clean.
    pub(super) fn cleanup_do(&mut self) {
        if self.cleanup.ids.is_none() {
            if self.recent < self.cleanup.time {
                return;
            }
            match layout::scan_split(&self.queue.path("mess")) {
                Ok(ids) => self.cleanup.ids = Some(ids.into_iter()),
                Err(_) => {
                    self.log
                        .text("alert: unable to opendir mess, sleeping...\n");
                    self.cleanup.time = self.recent + SLEEP_SYSFAIL;
                    return;
                }
            }
        }
        let Some(id) = self.cleanup.ids.as_mut().and_then(Iterator::next) else {
            self.cleanup.ids = None;
            self.cleanup.time = self.recent + SLEEP_CLEANUP;
            return;
        };
        let Ok(st) = fs::metadata(self.queue.path(&layout::mess(id))) else {
            return; // probably qmail-queue deleted it
        };
        if self.recent <= st.atime() + OSSIFIED {
            return;
        }
        for name in [layout::info(id), layout::todo(id)] {
            match fs::metadata(self.queue.path(&name)) {
                Ok(_) => return,
                Err(e) if is_enoent(&e) => {}
                Err(_) => return,
            }
        }
        self.clean(CleanRequest::Foop(id));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::testing::Rig;
    use super::*;

    #[test]
    fn messages_in_info_are_filed_by_their_channel_files() {
        let mut rig = Rig::new();
        let both = rig.mess(b"x\n");
        rig.put(&layout::info(both), b"Fa@b\0");
        rig.put(&layout::channel(both, Channel::Local), b"Tl@test.example\0");
        rig.put(&layout::channel(both, Channel::Remote), b"Tr@elsewhere\0");
        let finished = rig.mess(b"x\n");
        rig.put(&layout::info(finished), b"Fa@b\0");
        let unfinished_todo = rig.mess(b"x\n");
        rig.put(&layout::info(unfinished_todo), b"Fa@b\0");
        rig.put(&layout::todo(unfinished_todo), b"u1\0p2\0Fa@b\0");
        rig.send.pq_start();
        let ids = |pq: &super::super::Pq| {
            let mut v: Vec<u64> = pq.iter().map(|Reverse((_, id))| *id).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&rig.send.pq.chan[Channel::Local]), [both]);
        assert_eq!(ids(&rig.send.pq.chan[Channel::Remote]), [both]);
        assert_eq!(ids(&rig.send.pq.done), [finished]);
        assert!(rig.send.pq.fail.is_empty());
    }

    #[test]
    fn a_finished_job_removes_its_channel_file_and_the_last_one_ends_the_message() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"Fa@b\0");
        rig.put(&layout::channel(id, Channel::Local), b"Dl@test.example\0");
        rig.put(&layout::channel(id, Channel::Remote), b"Dr@elsewhere\0");
        for (c, last) in [(Channel::Local, false), (Channel::Remote, true)] {
            let j = rig.send.job_open(id, c).unwrap();
            rig.send.jobs[j].hiteof = true;
            rig.send.job_close(j);
            assert!(!rig.exists(&layout::channel(id, c)));
            assert_eq!(rig.send.pq.done.len(), usize::from(last));
        }
        // Not at the end of its file: the job waits for its retry time.
        rig.put(&layout::channel(id, Channel::Local), b"Tl@test.example\0");
        let j = rig.send.job_open(id, Channel::Local).unwrap();
        rig.send.jobs[j].retry = 12345;
        rig.send.job_close(j);
        assert!(rig.exists(&layout::channel(id, Channel::Local)));
        assert_eq!(
            rig.send.pq.chan[Channel::Local].peek(),
            Some(&Reverse((12345, id)))
        );
    }

    #[test]
    fn ossified_leftovers_go_to_qmail_clean() {
        let mut rig = Rig::new();
        let old = rig.mess(b"x\n");
        let young = rig.mess(b"y\n");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(rig.queue().join(layout::mess(old)))
            .unwrap()
            .set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
            .unwrap();
        rig.answer_clean(b"+");
        rig.send.recent = now_secs();
        for _ in 0..4 {
            rig.send.cleanup_do();
        }
        let _ = young;
        let mut req = [0u8; 64];
        let n = rig.clean_requests.read(&mut req).unwrap();
        assert_eq!(&req[..n], format!("foop/{old}\0").as_bytes());
        assert!(rig.send.cleanup.ids.is_none());
        assert_eq!(rig.send.cleanup.time, rig.send.recent + SLEEP_CLEANUP);
    }
}
