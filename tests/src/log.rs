//! A child's output kept line by line, for tests that wait for a log
//! line: reader threads append each line as it comes, and [`Log::wait`]
//! polls the lines with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lines read so far from one or more of a child's outputs (clones share
/// them).
#[derive(Debug, Clone, Default)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    /// No lines yet.
    pub fn new() -> Log {
        Log::default()
    }

    /// Keep every line `r` gives (without its line end), from a thread
    /// of its own, until end of file or a read error. With `echo`, each
    /// line is also printed to stderr as `[echo] line`, so a failing
    /// test shows what the child said.
    pub fn follow(
        &self,
        r: impl Read + Send + 'static,
        echo: Option<&'static str>,
    ) -> JoinHandle<()> {
        let lines = self.lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if let Some(label) = echo {
                    eprintln!("[{label}] {line}");
                }
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        })
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many lines so far contain `pat`.
    pub fn count(&self, pat: &str) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.contains(pat))
            .count()
    }

    /// The first line so far that contains `needle`.
    pub fn find(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// Call `f` on the lines until it returns `Some`, at most `timeout`
    /// (see [`crate::poll_until`]).
    pub fn wait<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&[String]) -> Option<T>,
    ) -> Option<T> {
        crate::poll_until(timeout, || {
            f(&self.lines.lock().unwrap_or_else(|e| e.into_inner()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_two_readers_and_waits_for_a_line() {
        let log = Log::new();
        let a = log.follow(&b"one\r\ntwo\n"[..], None);
        let b = log.follow(&b"three"[..], Some("test"));
        a.join().unwrap();
        b.join().unwrap();
        let mut lines = log.lines();
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
        assert_eq!(log.count("t"), 2);
        assert_eq!(log.find("hre").as_deref(), Some("three"));
        let n = log.wait(Duration::from_secs(1), |l| {
            (l.len() == 3).then_some(l.len())
        });
        assert_eq!(n, Some(3));
        assert_eq!(log.wait(Duration::from_millis(20), |_| None::<()>), None);
    }
}
