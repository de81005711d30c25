//! Looking at the queue: qmail-qstat's counts and qmail-qread's listing.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use control::datetime::{DateTime, date822};

use crate::layout;
use crate::records::parse_channel;

/// qmail-qstat's two numbers: messages in `mess/` and in `todo/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub queued: u64,
    pub todo: u64,
}

/// Count the files as qmail-qstat's `find | wc` does: every entry below
/// the `mess` subdirectories and in `todo`.
pub fn stat(queue: &Path) -> io::Result<Stat> {
    let mut queued = 0;
    for k in 0..layout::SPLIT {
        queued += fs::read_dir(queue.join("mess").join(k.to_string()))?.count() as u64;
    }
    let todo = fs::read_dir(queue.join("todo"))?.count() as u64;
    Ok(Stat { queued, todo })
}

/// qmail-qstat's output.
pub fn format_stat(s: Stat) -> String {
    format!(
        "messages in queue: {}\nmessages in queue but not yet preprocessed: {}\n",
        s.queued, s.todo
    )
}

/// Bytes outside 32..=126 print as `_` (qmail-qread's `out`).
fn safe(s: &[u8], out: &mut Vec<u8>) {
    out.extend(
        s.iter()
            .map(|&b| if (32..=126).contains(&b) { b } else { b'_' }),
    );
}

/// qmail-qread's listing: for each message in `info/`, a line
/// `<date> GMT  #<id>  <size>  <<sender>> [ bouncing]`, then one line per
/// recipient, `\tlocal\t<addr>` or `\tremote\t<addr>`, prefixed with
/// `  done` when finished. A message that cannot be read gets a
/// `warning: trouble with #<id>: <reason>` line and the listing goes on.
pub fn qread(queue: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut ids = layout::scan_split(&queue.join("info"))?;
    ids.sort_unstable();
    for id in ids {
        let mut text = Vec::new();
        if let Err(e) = one(queue, id, &mut text) {
            text.clear();
            text.extend_from_slice(
                format!(
                    "warning: trouble with #{id}: {}\n",
                    sys::errstr::describe(&e)
                )
                .as_bytes(),
            );
        }
        out.write_all(&text)?;
    }
    Ok(())
}

fn one(queue: &Path, id: u64, out: &mut Vec<u8>) -> io::Result<()> {
    let size = fs::metadata(queue.join(layout::mess(id)))?.len();
    let bouncing = queue.join(layout::bounce(id)).exists();
    let info_path = queue.join(layout::info(id));
    let info = fs::read(&info_path)?;
    let qtime = fs::metadata(&info_path)?.mtime();
    let sender_rec = info.split(|&b| b == 0).next().unwrap_or(&[]);
    let sender = sender_rec.get(1..).unwrap_or(&[]);
    let date = date822(&DateTime::from_unix(qtime));
    let date = date.strip_suffix(" -0000").unwrap_or(&date);
    let mut line = format!("{date} GMT  #{id}  {size}  <").into_bytes();
    line.extend_from_slice(sender);
    line.extend_from_slice(b"> ");
    if bouncing {
        line.extend_from_slice(b" bouncing");
    }
    safe(&line, out);
    out.push(b'\n');
    for c in layout::Channel::ALL {
        let bytes = match fs::read(queue.join(layout::channel(id, c))) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        // A damaged record ends the list, as qmail-qread's switch skips it.
        let records = parse_channel(&bytes).unwrap_or_default();
        for r in records {
            if r.done {
                out.extend_from_slice(b"  done");
            }
            out.push(b'\t');
            out.extend_from_slice(c.dir().as_bytes());
            out.push(b'\t');
            safe(&r.addr, out);
            out.push(b'\n');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qread_lists_like_qmail() {
        let d = tempfile::tempdir().unwrap();
        let q = d.path();
        layout::create(q, None).unwrap();
        fs::write(q.join(layout::mess(24)), "0123456789").unwrap();
        fs::write(q.join(layout::info(24)), b"Falice@x\0").unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_898_400);
        fs::File::options()
            .write(true)
            .open(q.join(layout::info(24)))
            .unwrap()
            .set_modified(t)
            .unwrap();
        fs::write(
            q.join(layout::channel(24, layout::Channel::Local)),
            b"Dbob@x\0Tcarol@x\0",
        )
        .unwrap();
        fs::write(
            q.join(layout::channel(24, layout::Channel::Remote)),
            b"Tdan@\x01y\0",
        )
        .unwrap();
        fs::write(q.join(layout::bounce(24)), b"x").unwrap();
        fs::write(q.join(layout::info(47)), b"F\0").unwrap(); // no mess
        let mut out = Vec::new();
        qread(q, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "3 Jan 2025 10:00:00 GMT  #24  10  <alice@x>  bouncing\n\
             \x20 done\tlocal\tbob@x\n\
             \tlocal\tcarol@x\n\
             \tremote\tdan@_y\n\
             warning: trouble with #47: file does not exist\n"
        );
        let s = stat(q).unwrap();
        assert_eq!(s, Stat { queued: 1, todo: 0 });
        assert_eq!(
            format_stat(s),
            "messages in queue: 1\nmessages in queue but not yet preprocessed: 0\n"
        );
    }
}
