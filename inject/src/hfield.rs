//! Header field names qmail-inject knows (qmail's `hfield.c`). No I/O.

/// The fields qmail-inject treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sender,
    From,
    ReplyTo,
    To,
    Cc,
    Bcc,
    Date,
    MessageId,
    Subject,
    ResentSender,
    ResentFrom,
    ResentReplyTo,
    ResentTo,
    ResentCc,
    ResentBcc,
    ResentDate,
    ResentMessageId,
    ReturnReceiptTo,
    ErrorsTo,
    ApparentlyTo,
    Received,
    ReturnPath,
    DeliveredTo,
    ContentLength,
    ContentType,
    ContentTransferEncoding,
    NoticeRequestedUponDeliveryTo,
    MailFollowupTo,
}

const NAMES: &[(&[u8], Field)] = &[
    (b"sender", Field::Sender),
    (b"from", Field::From),
    (b"reply-to", Field::ReplyTo),
    (b"to", Field::To),
    (b"cc", Field::Cc),
    (b"bcc", Field::Bcc),
    (b"date", Field::Date),
    (b"message-id", Field::MessageId),
    (b"subject", Field::Subject),
    (b"resent-sender", Field::ResentSender),
    (b"resent-from", Field::ResentFrom),
    (b"resent-reply-to", Field::ResentReplyTo),
    (b"resent-to", Field::ResentTo),
    (b"resent-cc", Field::ResentCc),
    (b"resent-bcc", Field::ResentBcc),
    (b"resent-date", Field::ResentDate),
    (b"resent-message-id", Field::ResentMessageId),
    (b"return-receipt-to", Field::ReturnReceiptTo),
    (b"errors-to", Field::ErrorsTo),
    (b"apparently-to", Field::ApparentlyTo),
    (b"received", Field::Received),
    (b"return-path", Field::ReturnPath),
    (b"delivered-to", Field::DeliveredTo),
    (b"content-length", Field::ContentLength),
    (b"content-type", Field::ContentType),
    (b"content-transfer-encoding", Field::ContentTransferEncoding),
    (
        b"notice-requested-upon-delivery-to",
        Field::NoticeRequestedUponDeliveryTo,
    ),
    (b"mail-followup-to", Field::MailFollowupTo),
];

/// `line` starts with `name` (any case), then optional blanks and a colon.
fn matches(line: &[u8], name: &[u8]) -> bool {
    if line.len() <= name.len() || !line[..name.len()].eq_ignore_ascii_case(name) {
        return false;
    }
    for &b in &line[name.len()..] {
        match b {
            b':' => return true,
            b' ' | b'\t' => {}
            _ => return false,
        }
    }
    false
}

/// Which known field `line` starts, if any.
pub fn known(line: &[u8]) -> Option<Field> {
    NAMES
        .iter()
        .find(|(name, _)| matches(line, name))
        .map(|&(_, f)| f)
}

/// `line` starts a header field: a name of printable non-space bytes,
/// optional blanks, then a colon.
pub fn valid(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let mut end = colon;
    while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    end > 0 && line[..end].iter().all(|&b| (33..127).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case_with_blanks_before_the_colon() {
        assert_eq!(known(b"To: x"), Some(Field::To));
        assert_eq!(known(b"tO \t: x"), Some(Field::To));
        assert_eq!(known(b"RESENT-TO:x"), Some(Field::ResentTo));
        assert_eq!(known(b"Top: x"), None);
        assert_eq!(known(b"To"), None);
        assert_eq!(known(b"Resent_To: x"), None);
    }

    #[test]
    fn valid_fields() {
        assert!(valid(b"X-Anything: y\n"));
        assert!(valid(b"X :y"));
        assert!(!valid(b": y"));
        assert!(!valid(b" x: y"));
        assert!(!valid(b"a b: y"));
        assert!(!valid(b"no colon\n"));
        assert!(!valid(b"\xe9: y"));
    }
}
