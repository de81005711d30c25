//! The poll loop and the pipes: what to wait for, signals, the commands
//! written to the spawners a piece at a time, and qmail-clean's requests.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use control::datetime::now_secs;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use sys::selfpipe::SelfPipe;

use super::{PerChan, SLEEP_FOREVER, SLEEP_FUZZ, Send};
use crate::proto::CleanRequest;
use crate::rewrite::Channel;

/// What a descriptor in the poll set is for.
#[derive(Debug, Clone, Copy)]
enum Watch {
    /// A command can be written to this channel's spawner.
    Command(Channel),
    /// A report can be read from it.
    Report(Channel),
    /// `lock/trigger`: qmail-queue says there is something new.
    Trigger,
}

/// What came back from `poll`.
#[derive(Debug, Default)]
pub(super) struct Ready {
    pub writable: PerChan<bool>,
    pub readable: PerChan<bool>,
    pub pulled: bool,
}

impl Send {
    pub(super) fn event_loop(&mut self, selfpipe: &SelfPipe) {
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
            let polled = self.wait(selfpipe, timeout);
            for sig in selfpipe.drain() {
                match sig {
                    Signal::SIGTERM => self.exitasap = true,
                    Signal::SIGALRM => self.runasap = true,
                    Signal::SIGHUP => self.readasap = true,
                    _ => {}
                }
            }
            let ready = match polled {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.log.text("warning: trouble in select\n");
                    continue;
                }
                Ok(r) => r,
            };
            self.recent = now_secs();
            self.comm_do(&ready.writable);
            self.del_do(&ready.readable);
            self.todo_do(ready.pulled);
            self.pass_do();
            self.cleanup_do();
        }
    }

    /// One `poll` on the self-pipe, the spawners and the trigger.
    fn wait(&self, selfpipe: &SelfPipe, timeout: PollTimeout) -> nix::Result<Ready> {
        let mut fds: Vec<PollFd> = vec![PollFd::new(selfpipe.as_fd(), PollFlags::POLLIN)];
        let mut watches = Vec::new();
        for c in Channel::ALL {
            let ch = &self.chan[c];
            if ch.alive && !ch.comm.is_empty() {
                watches.push(Watch::Command(c));
                fds.push(PollFd::new(ch.to.as_fd(), PollFlags::POLLOUT));
            }
            if ch.alive {
                watches.push(Watch::Report(c));
                fds.push(PollFd::new(ch.from.as_fd(), PollFlags::POLLIN));
            }
        }
        if !self.exitasap
            && let Some(t) = &self.todo.trigger
        {
            watches.push(Watch::Trigger);
            fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
        }
        poll(&mut fds, timeout)?;
        let mut ready = Ready::default();
        for (k, w) in watches.into_iter().enumerate() {
            let hit = fds[k + 1].revents().is_some_and(|r| !r.is_empty());
            match w {
                Watch::Command(c) => ready.writable[c] = hit,
                Watch::Report(c) => ready.readable[c] = hit,
                Watch::Trigger => ready.pulled = hit,
            }
        }
        Ok(ready)
    }

    fn reread(&mut self) {
        if let Err(msg) = self.ctl.reread(&self.home) {
            self.log.text(msg);
        }
    }

    pub(super) fn spawn_died(&mut self, c: Channel) {
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

    pub(super) fn comm_canwrite(&self, c: Channel) -> bool {
        self.chan[c].comm.is_empty()
    }

    fn comm_do(&mut self, writable: &PerChan<bool>) {
        for c in Channel::ALL {
            let ch = &mut self.chan[c];
            if !writable[c] || !ch.alive || ch.comm.is_empty() {
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
    pub(super) fn clean(&mut self, req: CleanRequest) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::Rig;
    use super::*;

    #[test]
    fn qmail_clean_answers_are_read_and_refusals_logged() {
        let mut rig = Rig::new();
        rig.answer_clean(b"+!");
        assert!(rig.send.clean(CleanRequest::Todo(42)));
        assert!(!rig.send.clean(CleanRequest::Foop(43)));
        let mut req = vec![0u8; 16];
        let n = rig.clean_requests.read(&mut req).unwrap();
        assert_eq!(&req[..n], b"todo/42\0foop/43\0");
        assert_eq!(
            rig.log(),
            "warning: qmail-clean unable to clean up foop/43\n"
        );
        // qmail-clean gone: qmail-send winds down.
        drop(std::mem::replace(
            &mut rig.clean_answers,
            io::pipe().unwrap().1,
        ));
        assert!(!rig.send.clean(CleanRequest::Todo(44)));
        assert!(rig.send.exitasap);
    }

    #[test]
    fn a_command_goes_to_its_spawner_when_the_pipe_is_writable() {
        let mut rig = Rig::new();
        rig.send.chan[Channel::Remote].comm = b"\x05x\0y\0z\0".to_vec();
        let mut writable = PerChan::default();
        rig.send.comm_do(&writable);
        assert!(!rig.send.comm_canwrite(Channel::Remote));
        writable[Channel::Remote] = true;
        rig.send.comm_do(&writable);
        assert!(rig.send.comm_canwrite(Channel::Remote));
        let mut got = [0u8; 16];
        let n = rig.commands[1].read(&mut got).unwrap();
        assert_eq!(&got[..n], b"\x05x\0y\0z\0");
    }
}
