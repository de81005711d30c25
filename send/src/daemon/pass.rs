//! Passes: a job takes the next message due on a channel and walks its
//! channel file record by record, starting a delivery for each recipient
//! not yet done while the spawner has a free slot. And the end of a
//! message: once no channel file is left, its bounce goes out and its
//! files are removed.

use std::cmp::Reverse;
use std::fs;

use control::datetime::now_secs;
use queue::layout;
use queue::records::ChannelParser;

use super::bounces::InfoError;
use super::{Pass, QueueDir, SLEEP_SYSFAIL, Send, is_enoent};
use crate::proto::CleanRequest;
use crate::retry::{SKIP, next_retry};
use crate::rewrite::Channel;

impl Send {
    pub(super) fn pass_selprep(&self, wakeup: &mut i64) {
        if self.exitasap {
            return;
        }
        for c in Channel::ALL {
            if self.pass[c].id != 0 && self.del_avail(c) {
                *wakeup = 0;
                return;
            }
        }
        if self.job_avail() {
            for c in Channel::ALL {
                if self.pass[c].id == 0
                    && let Some(Reverse((dt, _))) = self.pq.chan[c].peek()
                {
                    *wakeup = (*wakeup).min(*dt);
                }
            }
        }
        for pq in [&self.pq.fail, &self.pq.done] {
            if let Some(Reverse((dt, _))) = pq.peek() {
                *wakeup = (*wakeup).min(*dt);
            }
        }
    }

    pub(super) fn pass_dochan(&mut self, c: Channel) {
        if self.exitasap {
            return;
        }
        if self.pass[c].id == 0 {
            if !self.job_avail() {
                return;
            }
            let Some(&Reverse((dt, id))) = self.pq.chan[c].peek() else {
                return;
            };
            if dt > self.recent {
                return;
            }
            self.pq.chan[c].pop();
            let name = QueueDir::chan_name(id, c);
            if self.damaged.contains(&id) {
                return;
            }
            let bytes = match fs::read(self.queue.path(&name)) {
                Ok(b) => b,
                Err(_) => return self.pass_trouble(c, id, &name),
            };
            let (sender, birth) = match self.get_info(id) {
                Ok(x) => x,
                Err(InfoError::Damaged) => {
                    self.damaged.insert(id);
                    self.log.text(&format!(
                        "warning: damaged {}; message set aside\n",
                        layout::info(id)
                    ));
                    return;
                }
                Err(InfoError::Unreadable) => return self.pass_trouble(c, id, &name),
            };
            let mut records = Vec::new();
            let damaged = ChannelParser::new().feed(&bytes, &mut records).is_err();
            let j = self.job_open(id, c).expect("job_avail said yes");
            self.jobs[j].retry = next_retry(birth, self.recent, SKIP[c as usize]);
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
                let name = QueueDir::chan_name(self.pass[c].id, c);
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

    fn pass_trouble(&mut self, c: Channel, id: u64, name: &str) {
        self.log.text(&format!(
            "warning: trouble opening {name}; will try again later\n"
        ));
        self.pq.chan[c].push(Reverse((self.recent + SLEEP_SYSFAIL, id)));
    }

    /// A message with no channel file left: send its bounce, remove its
    /// info and have qmail-clean remove the rest.
    fn mess_done(&mut self, id: u64) {
        let fail = |s: &mut Send| s.pq.done.push(Reverse((now_secs() + SLEEP_SYSFAIL, id)));
        for c in Channel::ALL {
            let name = QueueDir::chan_name(id, c);
            match fs::metadata(self.queue.path(&name)) {
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
        match fs::metadata(self.queue.path(&todo)) {
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
        match fs::metadata(self.queue.path(&info)) {
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
        if fs::remove_file(self.queue.path(&info)).is_err() {
            self.log.text(&format!(
                "warning: unable to unlink {info}; will try again later\n"
            ));
            return fail(self);
        }
        self.clean(CleanRequest::Foop(id));
    }

    pub(super) fn pass_do(&mut self) {
        for c in Channel::ALL {
            self.pass_dochan(c);
        }
        if let Some(&Reverse((dt, id))) = self.pq.fail.peek()
            && dt <= self.recent
        {
            self.pq.fail.pop();
            self.pq_add(id);
        }
        if let Some(&Reverse((dt, id))) = self.pq.done.peek()
            && dt <= self.recent
        {
            self.pq.done.pop();
            self.mess_done(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::testing::Rig;
    use super::*;
    use crate::proto::{Command, CommandDecoder};

    /// Run passes on the local channel, the spawner taking each command
    /// at once, until the pass ends; the commands it got.
    fn run_pass(rig: &mut Rig) -> Vec<Command> {
        let mut decoder = CommandDecoder::new();
        let mut out = Vec::new();
        rig.send.recent = now_secs();
        for _ in 0..100 {
            rig.send.pass_dochan(Channel::Local);
            let ch = &mut rig.send.chan[Channel::Local];
            if !ch.comm.is_empty() {
                decoder.feed(&ch.comm, &mut out);
                ch.comm.clear();
                // The slot is free again for the next recipient.
                let slot = out.last().unwrap().slot;
                ch.dels[usize::from(slot)] = None;
                ch.used -= 1;
            }
            if rig.send.pass[Channel::Local].id == 0 {
                break;
            }
        }
        out
    }

    #[test]
    fn a_pass_starts_a_delivery_for_each_undone_recipient() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"Falice@test.example\0");
        rig.put(
            &layout::channel(id, false),
            b"Ta@test.example\0Db@test.example\0Tc@test.example\0",
        );
        rig.send.pq.chan[Channel::Local].push(Reverse((0, id)));
        let cmds = run_pass(&mut rig);
        let recips: Vec<&[u8]> = cmds.iter().map(|c| &c.recip[..]).collect();
        assert_eq!(recips, [&b"a@test.example"[..], b"c@test.example"]);
        assert_eq!(cmds[0].sender, b"alice@test.example");
        assert_eq!(cmds[0].messid, layout::split_path(id).as_bytes());
        let j = rig.send.pass[Channel::Local].j;
        assert!(rig.send.jobs[j].hiteof);
        assert_eq!(rig.send.jobs[j].numtodo, 2);
    }

    #[test]
    fn a_damaged_record_ends_the_pass_after_the_good_ones() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"Falice@test.example\0");
        rig.put(
            &layout::channel(id, false),
            b"Ta@test.example\0Qjunk\0Tc@test.example\0",
        );
        rig.send.pq.chan[Channel::Local].push(Reverse((0, id)));
        let cmds = run_pass(&mut rig);
        assert_eq!(cmds.len(), 1);
        assert!(rig.log().contains(&format!(
            "warning: unknown record type in local/{}/{id}!\n",
            id % 23
        )));
        let j = rig.send.pass[Channel::Local].j;
        assert!(!rig.send.jobs[j].hiteof);
    }

    #[test]
    fn a_finished_message_is_bounced_and_cleaned_up() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"F#@[]\0");
        rig.put(&layout::bounce(id), b"<a@b>:\nGone.\n\n");
        rig.answer_clean(b"+");
        rig.send.mess_done(id);
        let log = rig.log();
        assert_eq!(
            log,
            format!("triple bounce: discarding bounce/{id}\nend msg {id}\n")
        );
        assert!(!rig.exists(&layout::info(id)));
        assert!(!rig.exists(&layout::bounce(id)));
        let mut req = [0u8; 64];
        let n = rig.clean_requests.read(&mut req).unwrap();
        assert_eq!(&req[..n], format!("foop/{id}\0").as_bytes());
    }
}
