//! The dates qmail writes, always in GMT: `Date: 3 Jan 2025 10:00:00 -0000`
//! (qmail-inject, qmail-queue's and qmail-smtpd's Received lines, bounces),
//! the mbox `From ` line date `Fri Jan 03 10:00:00 2025` (qmail-local's
//! `myctime`, zero-padded day), and the `Message-ID` stamp.

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment broken down in GMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday
    pub wday: u32,
}

impl DateTime {
    /// `secs` seconds after 1970-01-01 00:00:00 GMT.
    pub fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(86400);
        let rem = secs.rem_euclid(86400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            min: (rem / 60 % 60) as u32,
            sec: (rem % 60) as u32,
            wday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// The current time.
    pub fn now() -> DateTime {
        DateTime::from_unix(now_secs())
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `3 Jan 2025 10:00:00 -0000` (qmail's `date822fmt`, without its newline).
pub fn date822(t: &DateTime) -> String {
    format!(
        "{} {} {} {:02}:{:02}:{:02} -0000",
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.min,
        t.sec
    )
}

/// `Fri Jan 03 10:00:00 2025` (qmail's `myctime`, without its newline).
pub fn ctime(t: &DateTime) -> String {
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        DAYS[t.wday as usize],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.hour,
        t.min,
        t.sec,
        t.year
    )
}

/// `20250103100000`: the stamp at the start of qmail's Message-IDs.
pub fn stamp(t: &DateTime) -> String {
    format!(
        "{}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.min, t.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moments() {
        // 2025-01-03 10:00:00 GMT, a Friday.
        let t = DateTime::from_unix(1_735_898_400);
        assert_eq!(date822(&t), "3 Jan 2025 10:00:00 -0000");
        assert_eq!(ctime(&t), "Fri Jan 03 10:00:00 2025");
        assert_eq!(stamp(&t), "20250103100000");
        let epoch = DateTime::from_unix(0);
        assert_eq!(ctime(&epoch), "Thu Jan 01 00:00:00 1970");
        // A leap day.
        let leap = DateTime::from_unix(951_782_400);
        assert_eq!(date822(&leap), "29 Feb 2000 00:00:00 -0000");
        assert_eq!(
            ctime(&DateTime::from_unix(1_709_251_199)),
            "Thu Feb 29 23:59:59 2024"
        );
    }
}
