//! The info file (sender and birth time), bounce paragraphs appended to
//! `bounce/N` as recipients fail, and the bounce injected through
//! qmail-queue once the message is done. The texts are in
//! [`crate::bounce`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use control::datetime::now_secs;
use control::qmail_queue::QueueClient;
use queue::layout;
use queue::records::parse_info;

use super::{Send, is_enoent};
use crate::bounce::{self, Plan};

/// Why the info file gave no sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InfoError {
    /// It could not be opened or read: try again later.
    Unreadable,
    /// It is not `F...\0`: set the message aside.
    Damaged,
}

impl Send {
    /// The sender and birth time of a message, from its info file.
    pub(super) fn get_info(&self, id: u64) -> Result<(Vec<u8>, i64), InfoError> {
        let mut f =
            File::open(self.queue.path(&layout::info(id))).map_err(|_| InfoError::Unreadable)?;
        let st = f.metadata().map_err(|_| InfoError::Unreadable)?;
        let mut buf = Vec::new();
        Read::by_ref(&mut f)
            .take(64 * 1024)
            .read_to_end(&mut buf)
            .map_err(|_| InfoError::Unreadable)?;
        let sender = parse_info(&buf).ok_or(InfoError::Damaged)?;
        Ok((sender, st.mtime()))
    }

    pub(super) fn add_bounce(&mut self, id: u64, recip: &[u8], report: &[u8]) {
        let text = bounce::paragraph(self.ctl.rewrite.strip_vdom_prepend(recip), report);
        let name = self.queue.path(&layout::bounce(id));
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
    pub(super) fn inject_bounce(&mut self, id: u64) -> bool {
        let Ok((sender, _)) = self.get_info(id) else {
            return false;
        };
        let sender = bounce::unverp(&sender).to_vec();
        let bname = layout::bounce(id);
        let bpath = self.queue.path(&bname);
        match fs::metadata(&bpath) {
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
                let copy = |qq: &mut QueueClient, name: &std::path::Path| match File::open(name) {
                    Ok(mut f) => qq.copy_from(&mut f),
                    Err(_) => qq.fail(),
                };
                copy(&mut qq, &bpath);
                qq.put(&bounce::separator(double, &sender));
                copy(&mut qq, &self.queue.path(&layout::mess(id)));
                if qq.close(&bsender, &[&recip]).is_err() {
                    self.log
                        .text("warning: trouble injecting bounce message, will try later\n");
                    return false;
                }
                self.log.text(&format!("bounce msg {id} qp {qp}\n"));
            }
        }
        if fs::remove_file(&bpath).is_err() {
            self.log
                .text(&format!("warning: unable to unlink {bname}\n"));
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::testing::Rig;
    use super::*;

    #[test]
    fn info_gives_the_sender_or_says_what_is_wrong() {
        let rig = Rig::new();
        let id = rig.mess(b"x\n");
        assert_eq!(rig.send.get_info(id), Err(InfoError::Unreadable));
        rig.put(&layout::info(id), b"garbage");
        assert_eq!(rig.send.get_info(id), Err(InfoError::Damaged));
        rig.put(&layout::info(id), b"Falice@test.example\0");
        let (sender, _) = rig.send.get_info(id).unwrap();
        assert_eq!(sender, b"alice@test.example");
    }

    /// A qmail-queue that keeps what it was given in the home.
    fn recording_qmail_queue(rig: &Rig) {
        let bin = rig.dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let p = bin.join("qmail-queue");
        fs::write(&p, "#!/bin/sh\ncat > qq.mess; cat <&1 > qq.env\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn failures_are_collected_and_sent_back_with_the_message() {
        let mut rig = Rig::new();
        recording_qmail_queue(&rig);
        let id = rig.mess(b"Subject: hello\n\nbody\n");
        rig.put(&layout::info(id), b"Falice@test.example\0");
        rig.send
            .add_bounce(id, b"bob@test.example", b"No mailbox.\n");
        rig.send
            .add_bounce(id, b"carol@test.example", b"Gone.\n\nFor good.\n");
        assert_eq!(
            rig.get(&layout::bounce(id)),
            b"<bob@test.example>:\nNo mailbox.\n\n\
              <carol@test.example>:\nGone.\n/For good.\n\n"
        );
        assert!(rig.send.inject_bounce(id));
        assert!(!rig.exists(&layout::bounce(id)));
        let home = rig.dir.path();
        assert_eq!(
            fs::read(home.join("qq.env")).unwrap(),
            b"F\0Talice@test.example\0\0"
        );
        let mess = String::from_utf8(fs::read(home.join("qq.mess")).unwrap()).unwrap();
        let tail = "<bob@test.example>:\nNo mailbox.\n\n\
                    <carol@test.example>:\nGone.\n/For good.\n\n\
                    --- Below this line is a copy of the message.\n\n\
                    Return-Path: <alice@test.example>\n\
                    Subject: hello\n\nbody\n";
        assert!(mess.ends_with(tail), "{mess}");
        assert!(mess.contains("\nSubject: failure notice\n"));
        assert!(rig.log().contains(&format!("bounce msg {id} qp ")));
        // No bounce file: nothing to do.
        assert!(rig.send.inject_bounce(id));
    }
}
