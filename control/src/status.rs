//! The K/Z/D status of a delivery, as it crosses qmail's process
//! boundaries: the message report qmail-remote prints for qmail-rspawn,
//! and the report each spawner sends qmail-send (`<slot><K|Z|D><text>\0`).
//! qmail-local says the same with its exit code (0, 111, 100), which
//! qmail-lspawn turns into these letters.

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// `K`: delivered; the recipient is done.
    K,
    /// `Z`: temporary failure; qmail-send tries again later. The default:
    /// a delivery that has not said otherwise is not done.
    #[default]
    Z,
    /// `D`: permanent failure; qmail-send bounces.
    D,
}

impl Status {
    /// The letter on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Status::K => b'K',
            Status::Z => b'Z',
            Status::D => b'D',
        }
    }

    /// The status a letter stands for; `None` for anything else (a
    /// mangled report).
    pub fn from_byte(b: u8) -> Option<Status> {
        match b {
            b'K' => Some(Status::K),
            b'Z' => Some(Status::Z),
            b'D' => Some(Status::D),
            _ => None,
        }
    }

    /// qmail-local's exit code for this status.
    pub fn local_exit(self) -> i32 {
        match self {
            Status::K => 0,
            Status::Z => 111,
            Status::D => 100,
        }
    }

    /// How qmail-lspawn reads qmail-local's exit code: 0 is success; 111
    /// and the temporary sysexits (71, 74, 75) are temporary; anything
    /// else is permanent.
    pub fn from_local_exit(code: i32) -> Status {
        match code {
            0 => Status::K,
            111 | 71 | 74 | 75 => Status::Z,
            _ => Status::D,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_qmails() {
        for (s, b) in [(Status::K, b'K'), (Status::Z, b'Z'), (Status::D, b'D')] {
            assert_eq!(s.byte(), b);
            assert_eq!(Status::from_byte(b), Some(s));
        }
        assert_eq!(Status::from_byte(b'k'), None);
        assert_eq!(Status::from_byte(0), None);
    }

    #[test]
    fn qmail_local_exit_codes_round_trip() {
        for s in [Status::K, Status::Z, Status::D] {
            assert_eq!(Status::from_local_exit(s.local_exit()), s);
        }
        assert_eq!(Status::from_local_exit(75), Status::Z);
        assert_eq!(Status::from_local_exit(64), Status::D);
    }
}
