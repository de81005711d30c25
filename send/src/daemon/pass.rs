//! Passes: a job takes the next message due on a channel and walks its
//! channel file record by record, starting a delivery for each recipient
//! not yet done while the spawner has a free slot. And the end of a
//! message: once no channel file is left, its bounce goes out and its
//! files are removed.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read};

use control::datetime::now_secs;
use queue::layout;
use queue::records::{ChannelParser, ChannelRecord};

use super::bounces::InfoError;
use super::{Pass, QueueDir, SLEEP_SYSFAIL, Send, is_enoent};
use crate::proto::CleanRequest;
use crate::retry::{next_retry, skip};
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
            let file = match File::open(self.queue.path(&name)) {
                Ok(f) => f,
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
            let j = self.job_open(id, c).expect("job_avail said yes");
            self.jobs[j].retry = next_retry(birth, self.recent, skip(c));
            self.jobs[j].dying = self.recent > birth.saturating_add(self.ctl.lifetime);
            self.jobs[j].sender = sender;
            self.pass[c] = Pass {
                id,
                j,
                file: Some(ChanReader::new(file)),
            };
        }
        if !self.del_avail(c) {
            return;
        }
        let j = self.pass[c].j;
        let next = match self.pass[c].file.as_mut() {
            Some(r) => r.next(),
            None => Ok(None),
        };
        let rec = match next {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                if self.pass[c].file.as_ref().is_some_and(|r| r.damaged) {
                    let name = QueueDir::chan_name(self.pass[c].id, c);
                    self.log
                        .text(&format!("warning: unknown record type in {name}!\n"));
                } else {
                    self.jobs[j].hiteof = true;
                }
                return self.pass_end(c);
            }
            Err(_) => {
                let name = QueueDir::chan_name(self.pass[c].id, c);
                self.log.text(&format!(
                    "warning: trouble reading {name}; will try again later\n"
                ));
                return self.pass_end(c);
            }
        };
        if !rec.done {
            self.jobs[j].numtodo += 1;
            self.del_start(j, rec.offset, &rec.addr);
        }
    }

    /// The pass is over; its job ends when its deliveries do.
    fn pass_end(&mut self, c: Channel) {
        let j = self.pass[c].j;
        self.pass[c] = Pass::default();
        self.job_close(j);
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

/// A channel file read through a small buffer, a record at a time, as
/// qmail's pass does: the envelope is never in memory whole.
#[derive(Debug)]
pub(super) struct ChanReader {
    file: File,
    parser: ChannelParser,
    /// Records of the piece read last, not yet handed out.
    ready: VecDeque<ChannelRecord>,
    eof: bool,
    /// A record that is neither `T` nor `D` came after `ready`.
    damaged: bool,
}

/// How much of a channel file is read at a time.
const PIECE: usize = 4096;

impl ChanReader {
    fn new(file: File) -> ChanReader {
        ChanReader {
            file,
            parser: ChannelParser::new(),
            ready: VecDeque::new(),
            eof: false,
            damaged: false,
        }
    }

    /// The next record; `None` at the end or at damage (an unterminated
    /// last record is ignored, as qmail's `getln`).
    fn next(&mut self) -> io::Result<Option<ChannelRecord>> {
        let mut buf = [0u8; PIECE];
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(Some(r));
            }
            if self.eof || self.damaged {
                return Ok(None);
            }
            let n = match self.file.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            self.damaged = self.parser.feed(&buf[..n], &mut out).is_err();
            self.ready.extend(out);
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
            &layout::channel(id, Channel::Local),
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
            &layout::channel(id, Channel::Local),
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

    #[test]
    fn records_come_one_at_a_time_across_pieces() {
        let rig = Rig::new();
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for i in 0..3000 {
            let addr = format!("{}{i}@test.example", "x".repeat(i % 700)).into_bytes();
            want.push(ChannelRecord {
                offset: bytes.len() as u64,
                done: i % 3 == 0,
                addr: addr.clone(),
            });
            bytes.push(if i % 3 == 0 { b'D' } else { b'T' });
            bytes.extend_from_slice(&addr);
            bytes.push(0);
        }
        bytes.extend_from_slice(b"Tunterminated");
        rig.put("local/0/1", &bytes);
        let mut r = ChanReader::new(File::open(rig.queue().join("local/0/1")).unwrap());
        let mut got = Vec::new();
        while let Some(rec) = r.next().unwrap() {
            assert!(r.ready.len() <= PIECE / 2);
            got.push(rec);
        }
        assert_eq!(got, want);
        assert!(!r.damaged);
    }

    #[test]
    fn a_read_error_mid_pass_ends_it_for_a_later_try() {
        let mut rig = Rig::new();
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"Falice@test.example\0");
        // A directory opens, and every read of it fails (EISDIR).
        fs::create_dir(rig.queue().join(layout::channel(id, Channel::Local))).unwrap();
        rig.send.pq.chan[Channel::Local].push(Reverse((0, id)));
        assert!(run_pass(&mut rig).is_empty());
        assert_eq!(
            rig.log(),
            format!(
                "warning: trouble reading local/{}/{id}; will try again later\n",
                id % 23
            )
        );
        let j = rig.send.pass[Channel::Local].j;
        assert!(!rig.send.jobs[j].hiteof);
        assert_eq!(rig.send.jobs[j].refs, 0);
        assert_eq!(rig.send.pq.chan[Channel::Local].len(), 1);
    }
}
