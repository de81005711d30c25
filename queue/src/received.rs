//! qmail-queue's own Received line (qmail-queue.c `receivedfmt`):
//!
//! ```text
//! Received: (qmail 12345 invoked by uid 1001); 3 Jan 2025 10:00:00 -0000
//! ```
//!
//! The words after `invoked` depend on the real uid that ran qmail-queue:
//! the alias user forwarding, qmaild (the SMTP server), qmails (bounces),
//! or anyone else by number.

use control::datetime::{DateTime, date822};

/// Who ran qmail-queue, for the Received line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invoker {
    /// `by alias`
    Alias,
    /// `from network`
    Network,
    /// `for bounce`
    Bounce,
    /// `by uid N`
    Uid(u32),
}

impl Invoker {
    /// Classify `uid` by qmail's users, each looked up by name; a user
    /// that does not exist matches nobody.
    pub fn classify(
        uid: u32,
        alias: Option<u32>,
        qmaild: Option<u32>,
        qmails: Option<u32>,
    ) -> Invoker {
        if Some(uid) == alias {
            Invoker::Alias
        } else if Some(uid) == qmaild {
            Invoker::Network
        } else if Some(uid) == qmails {
            Invoker::Bounce
        } else {
            Invoker::Uid(uid)
        }
    }
}

/// The whole line, with its newline.
pub fn received(pid: u32, who: Invoker, when: i64) -> Vec<u8> {
    let how = match who {
        Invoker::Alias => "by alias".to_string(),
        Invoker::Network => "from network".to_string(),
        Invoker::Bounce => "for bounce".to_string(),
        Invoker::Uid(u) => format!("by uid {u}"),
    };
    format!(
        "Received: (qmail {pid} invoked {how}); {}\n",
        date822(&DateTime::from_unix(when))
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_qmail_queue() {
        // 1735898400 = 3 Jan 2025 10:00:00 GMT
        assert_eq!(
            received(12345, Invoker::Uid(1001), 1_735_898_400),
            b"Received: (qmail 12345 invoked by uid 1001); 3 Jan 2025 10:00:00 -0000\n"
        );
        assert_eq!(
            received(7, Invoker::Network, 1_735_898_400),
            b"Received: (qmail 7 invoked from network); 3 Jan 2025 10:00:00 -0000\n"
        );
        assert_eq!(
            Invoker::classify(5, Some(5), Some(6), Some(7)),
            Invoker::Alias
        );
        assert_eq!(
            Invoker::classify(7, None, Some(6), Some(7)),
            Invoker::Bounce
        );
        assert_eq!(Invoker::classify(0, None, None, None), Invoker::Uid(0));
    }
}
