//! Running a tcprules (ours or Debian's) on given rules text, for the
//! tests that compare tcprules and for those that need a rules cdb.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `bin cdb tmp` with `input` on its stdin; its exit status and
/// stderr (stdout is discarded).
pub fn run(bin: &Path, cdb: &Path, tmp: &Path, input: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .arg(cdb)
        .arg(tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcprules");
    {
        // tcprules may stop reading at a bad line: a broken pipe is fine.
        let mut stdin = child.stdin.take().expect("tcprules stdin");
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().expect("wait tcprules")
}
