//! The delivery bookkeeping: a command to a spawner slot for each
//! recipient started, the K/Z/D report read back, the recipient marked
//! done in its channel file (`T` overwritten with `D`) or left for the
//! next pass, and the log lines of both.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use control::status::Status;
use queue::layout;

use super::{Del, PerChan, QueueDir, Send, status_name, to_chan};
use crate::log::Line;
use crate::proto::{Report, encode_command};
use crate::rewrite::{Channel, sender_for};

impl Send {
    pub(super) fn del_status(&mut self) {
        let mut line = String::from("status:");
        for c in Channel::ALL {
            let ch = &self.chan[c];
            line.push_str(&format!("{}{}/{}", status_name(c), ch.used, ch.concurrency));
        }
        if self.exitasap {
            line.push_str(" exitasap");
        }
        line.push('\n');
        self.log.text(&line);
    }

    pub(super) fn del_canexit(&self) -> bool {
        // A dead spawner's deliveries are lost to us anyway.
        self.chan.iter().all(|ch| !ch.alive || ch.used == 0)
    }

    pub(super) fn del_avail(&self, c: Channel) -> bool {
        let ch = &self.chan[c];
        ch.alive && self.comm_canwrite(c) && ch.used < ch.concurrency
    }

    /// Start delivering to `recip` of job `j`, whose record is at `mpos`
    /// in the channel file.
    pub(super) fn del_start(&mut self, j: usize, mpos: u64, recip: &[u8]) {
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
            .raw(format!("{delid}: msg {id}{}", to_chan(c)))
            .outside(recip)
            .end();
        self.log.line(&line);
        self.del_status();
    }

    fn mark_done(&mut self, c: Channel, id: u64, pos: u64) {
        let name = QueueDir::chan_name(id, c);
        let ok = OpenOptions::new()
            .write(true)
            .open(self.queue.path(&name))
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

    pub(super) fn del_do(&mut self, readable: &PerChan<bool>) {
        for c in Channel::ALL {
            if readable[c] && self.chan[c].alive {
                self.del_dochan(c);
            }
        }
    }

    fn del_dochan(&mut self, c: Channel) {
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

    fn del_report(&mut self, c: Channel, mut r: Report) {
        let slot = usize::from(r.slot);
        let Some(del) = self.chan[c].dels.get_mut(slot).and_then(Option::take) else {
            self.log
                .text("warning: internal error: delivery report out of range\n");
            return;
        };
        let j = del.j;
        if r.result == Some(Status::Z) && self.jobs[j].dying {
            r.result = Some(Status::D);
            r.text.extend_from_slice(
                b"I'm not going to try again; this message has been in the queue too long.\n",
            );
        }
        let prefix = format!("delivery {}: ", del.delid);
        let id = self.jobs[j].id;
        match r.result {
            Some(Status::K) => {
                let l = Line::new(&prefix).raw("success: ").outside(&r.text).end();
                self.log.line(&l);
                self.mark_done(c, id, del.mpos);
                self.jobs[j].numtodo -= 1;
            }
            Some(Status::Z) => {
                let l = Line::new(&prefix).raw("deferral: ").outside(&r.text).end();
                self.log.line(&l);
            }
            Some(Status::D) => {
                let l = Line::new(&prefix).raw("failure: ").outside(&r.text).end();
                self.log.line(&l);
                self.add_bounce(id, &del.recip, &r.text);
                self.mark_done(c, id, del.mpos);
                self.jobs[j].numtodo -= 1;
            }
            None => self
                .log
                .text(&format!("{prefix}report mangled, will defer\n")),
        }
        self.job_close(j);
        self.chan[c].used -= 1;
        self.del_status();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::testing::Rig;
    use super::*;
    use crate::proto::encode_report;

    /// A message with three local recipients, a pass over its file open,
    /// and a delivery started for each.
    fn three_started(rig: &mut Rig) -> (u64, usize) {
        let id = rig.mess(b"x\n");
        rig.put(&layout::info(id), b"Falice@test.example\0");
        rig.put(
            &layout::channel(id, Channel::Local),
            b"Tk@test.example\0Tz@test.example\0Td@test.example\0",
        );
        let j = rig.send.job_open(id, Channel::Local).unwrap();
        rig.send.jobs[j].sender = b"alice@test.example".to_vec();
        for (pos, recip) in [(0, "k"), (16, "z"), (32, "d")] {
            rig.send.jobs[j].numtodo += 1;
            rig.send
                .del_start(j, pos, format!("{recip}@test.example").as_bytes());
            // The spawner took the command.
            rig.send.chan[Channel::Local].comm.clear();
        }
        (id, j)
    }

    fn report(rig: &mut Rig, slot: u8, text: &[u8]) {
        rig.reports[0]
            .write_all(&encode_report(slot, text))
            .unwrap();
        rig.send.del_dochan(Channel::Local);
    }

    #[test]
    fn k_z_and_d_reports_are_logged_marked_and_bounced() {
        let mut rig = Rig::new();
        let (id, j) = three_started(&mut rig);
        assert_eq!(rig.send.chan[Channel::Local].used, 3);
        assert_eq!(rig.send.jobs[j].refs, 4);
        report(&mut rig, 0, b"Kdid 0+0+1/\n");
        report(&mut rig, 1, b"ZSorry, try later.\n");
        report(&mut rig, 2, b"DSorry, no mailbox here by that name.\n");
        report(&mut rig, 7, b"Kstray\n");
        assert_eq!(
            rig.get(&layout::channel(id, Channel::Local)),
            b"Dk@test.example\0Tz@test.example\0Dd@test.example\0"
        );
        assert_eq!(rig.send.jobs[j].numtodo, 1);
        assert_eq!(rig.send.jobs[j].refs, 1);
        assert_eq!(rig.send.chan[Channel::Local].used, 0);
        let bounce = String::from_utf8(rig.get(&layout::bounce(id))).unwrap();
        assert!(bounce.starts_with("<d@test.example>:\n"), "{bounce}");
        assert!(bounce.contains("Sorry, no mailbox here by that name."));
        let log = rig.log();
        for line in [
            format!("starting delivery 1: msg {id} to local k@test.example\n"),
            "status: local 3/10 remote 0/20\n".to_string(),
            "delivery 1: success: did_0+0+1//\n".to_string(),
            "delivery 2: deferral: Sorry,_try_later./\n".to_string(),
            "delivery 3: failure: Sorry,_no_mailbox_here_by_that_name./\n".to_string(),
            "status: local 0/10 remote 0/20\n".to_string(),
            "warning: internal error: delivery report out of range\n".to_string(),
        ] {
            assert!(log.contains(&line), "{line:?} not in {log}");
        }
    }

    #[test]
    fn a_deferral_of_a_message_too_old_is_a_failure() {
        let mut rig = Rig::new();
        let (id, j) = three_started(&mut rig);
        rig.send.jobs[j].dying = true;
        report(&mut rig, 1, b"ZSorry, try later.\n");
        let log = rig.log();
        assert!(log.contains(
            "delivery 2: failure: Sorry,_try_later./I'm_not_going_to_try_again;\
             _this_message_has_been_in_the_queue_too_long./\n"
        ));
        assert_eq!(
            rig.get(&layout::channel(id, Channel::Local)),
            b"Tk@test.example\0Dz@test.example\0Td@test.example\0"
        );
        assert!(rig.exists(&layout::bounce(id)));
    }

    #[test]
    fn a_mangled_report_defers() {
        let mut rig = Rig::new();
        let (id, _) = three_started(&mut rig);
        report(&mut rig, 0, b"Xwhat\n");
        assert!(
            rig.log()
                .contains("delivery 1: report mangled, will defer\n")
        );
        assert_eq!(rig.get(&layout::channel(id, Channel::Local))[0], b'T');
    }
}
