//! Syslog without the network: frames on a TCP stream (RFC 6587 octet counting and newline
//! framing, told apart per frame), and the record a message carries (its MSG part, after an
//! RFC 5424 or RFC 3164 header, read by `syslog_loose`).
//!
//! Invariants: a framer holds at most `max_message_bytes` plus one read of input; a message
//! larger than that is a [`SyslogFrame::Oversized`] with its start (stored as a dead letter),
//! never an allocation of the size the sender claims; no input panics, and how the stream is
//! cut into reads does not change the frames (property-tested below).

/// One frame cut from a syslog stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogFrame {
    /// A whole message (header and MSG), without its framing.
    Message(Vec<u8>),
    /// A message longer than the limit: its first bytes and the length it has or claims.
    Oversized { head: Vec<u8>, total_len: usize },
}

/// Longest octet count read: ten digits is more than any limit.
const MAX_LENGTH_DIGITS: usize = 10;

/// Cuts a TCP syslog stream into messages. Each frame is either `LEN SP MSG` (octet counting,
/// starts with a digit) or `MSG` ended by LF, CR LF or NUL (non-transparent framing, starts
/// with `<`), as senders may switch between them; whitespace between frames is skipped.
#[derive(Debug)]
pub struct SyslogFramer {
    buffer: Vec<u8>,
    max_message_bytes: usize,
    /// Bytes of an oversized octet-counted message still to throw away.
    skip_bytes: usize,
    /// An oversized newline-framed message is being thrown away up to its end: its start, and
    /// its length so far.
    skip_line: Option<(Vec<u8>, usize)>,
    /// An octet count far past the limit was read: the stream is out of step (or hostile), and
    /// nothing after it is framed.
    broken: bool,
}

/// An octet count this many times the limit breaks the stream instead of being skipped: a
/// sender does not mean gigabytes, and skipping them would swallow the connection silently.
const BROKEN_FACTOR: usize = 16;

impl SyslogFramer {
    pub fn new(max_message_bytes: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_message_bytes: max_message_bytes.max(1),
            skip_bytes: 0,
            skip_line: None,
            broken: false,
        }
    }

    /// Whether an octet count far past the limit ended the framing (see [`BROKEN_FACTOR`]):
    /// the connection should be closed.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Feed bytes; complete frames are appended to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<SyslogFrame>) {
        if self.broken {
            return;
        }
        self.buffer.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.buffer[start..];
            if self.skip_bytes > 0 {
                let n = self.skip_bytes.min(rest.len());
                self.skip_bytes -= n;
                start += n;
                if self.skip_bytes > 0 {
                    break;
                }
                continue;
            }
            if let Some((_, seen)) = &mut self.skip_line {
                match memchr::memchr2(b'\n', 0, rest) {
                    Some(end) => {
                        let (head, seen) = self.skip_line.take().expect("skipping a line");
                        out.push(SyslogFrame::Oversized {
                            head,
                            total_len: seen + end,
                        });
                        start += end + 1;
                        continue;
                    }
                    None => {
                        *seen += rest.len();
                        start = self.buffer.len();
                        break;
                    }
                }
            }
            let blank = rest
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0' | b' ' | b'\t'))
                .count();
            start += blank;
            let rest = &self.buffer[start..];
            if rest.is_empty() {
                break;
            }
            if rest[0].is_ascii_digit() {
                match octet_count(rest) {
                    OctetCount::NeedMore => break,
                    OctetCount::Length { digits, length } => {
                        let body = &rest[digits + 1..];
                        if length > self.max_message_bytes {
                            // Its start is kept whole, whatever the reads.
                            if body.len() < self.max_message_bytes {
                                break;
                            }
                            out.push(SyslogFrame::Oversized {
                                head: body[..self.max_message_bytes].to_vec(),
                                total_len: length,
                            });
                            if length / BROKEN_FACTOR > self.max_message_bytes {
                                self.broken = true;
                                self.buffer.clear();
                                return;
                            }
                            let available = body.len().min(length);
                            start += digits + 1 + available;
                            self.skip_bytes = length - available;
                            continue;
                        }
                        if body.len() < length {
                            break;
                        }
                        out.push(SyslogFrame::Message(body[..length].to_vec()));
                        start += digits + 1 + length;
                        continue;
                    }
                    // Digits that are no count: the frame is a newline-framed line.
                    OctetCount::NotACount => {}
                }
            }
            let rest = &self.buffer[start..];
            match memchr::memchr2(b'\n', 0, rest) {
                Some(end) if end <= self.max_message_bytes => {
                    let line = trim_cr(&rest[..end]);
                    out.push(SyslogFrame::Message(line.to_vec()));
                    start += end + 1;
                }
                Some(end) => {
                    out.push(SyslogFrame::Oversized {
                        head: rest[..self.max_message_bytes].to_vec(),
                        total_len: end,
                    });
                    start += end + 1;
                }
                None if rest.len() > self.max_message_bytes => {
                    // Reported when the line ends, with its whole length.
                    self.skip_line = Some((rest[..self.max_message_bytes].to_vec(), rest.len()));
                    start = self.buffer.len();
                }
                None => break,
            }
        }
        self.buffer.drain(..start);
    }

    /// The stream ended: what is left is a last message without its trailer.
    pub fn finish(&mut self, out: &mut Vec<SyslogFrame>) {
        if self.broken {
            self.buffer.clear();
            return;
        }
        if let Some((head, seen)) = self.skip_line.take() {
            out.push(SyslogFrame::Oversized {
                head,
                total_len: seen,
            });
        } else if self.skip_bytes == 0 {
            let rest = trim_cr(&self.buffer);
            let rest = rest.strip_prefix(b"\0").unwrap_or(rest).trim_ascii_start();
            if rest.len() > self.max_message_bytes {
                out.push(SyslogFrame::Oversized {
                    head: rest[..self.max_message_bytes].to_vec(),
                    total_len: rest.len(),
                });
            } else if !rest.is_empty() {
                out.push(SyslogFrame::Message(rest.to_vec()));
            }
        }
        self.buffer.clear();
        self.skip_bytes = 0;
    }
}

enum OctetCount {
    NeedMore,
    Length { digits: usize, length: usize },
    NotACount,
}

fn octet_count(rest: &[u8]) -> OctetCount {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == rest.len() {
        return if digits <= MAX_LENGTH_DIGITS {
            OctetCount::NeedMore
        } else {
            OctetCount::NotACount
        };
    }
    if digits > MAX_LENGTH_DIGITS || rest[digits] != b' ' || rest[0] == b'0' {
        return OctetCount::NotACount;
    }
    match std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
    {
        Some(length) => OctetCount::Length { digits, length },
        None => OctetCount::NotACount,
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The record a syslog message carries: its MSG part after an RFC 5424 or RFC 3164 header
/// (the whole message when it has no header), without the UTF-8 BOM, invalid UTF-8 replaced.
pub fn message_body(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    // The header's time is not used (every source's record carries its own), so neither the
    // year of a BSD timestamp nor its zone matters.
    let parsed = syslog_loose::parse_message_with_year_tz(
        &text,
        |_| 2000,
        Some(chrono::Utc),
        syslog_loose::Variant::Either,
    );
    let msg = parsed.msg;
    msg.strip_prefix('\u{feff}')
        .unwrap_or(msg)
        .as_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]], max: usize) -> Vec<SyslogFrame> {
        let mut framer = SyslogFramer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
        }
        framer.finish(&mut out);
        out
    }

    fn message(text: &str) -> SyslogFrame {
        SyslogFrame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn octet_counting_and_newlines_mix_and_survive_any_split() {
        let stream = b"11 <34>1 - a b\n<13>Oct 11 22:14:15 host app: hello\r\n\n5 <1>xy<2>last";
        let expected = vec![
            message("<34>1 - a b"),
            message("<13>Oct 11 22:14:15 host app: hello"),
            message("<1>xy"),
            message("<2>last"),
        ];
        assert_eq!(frames(&[stream], 1000), expected);
        // Every split point, and byte by byte.
        for cut in 0..stream.len() {
            assert_eq!(
                frames(&[&stream[..cut], &stream[cut..]], 1000),
                expected,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(&bytes, 1000), expected);
    }

    #[test]
    fn oversized_messages_keep_their_start_and_the_stream_goes_on() {
        // Octet counting: a claimed length far beyond the limit allocates nothing of it.
        let out = frames(&[b"20 <1>0123456789abcdefg<2>ok\n"], 10);
        assert_eq!(
            out,
            vec![
                SyslogFrame::Oversized {
                    head: b"<1>0123456".to_vec(),
                    total_len: 20
                },
                message("<2>ok"),
            ]
        );
        let mut framer = SyslogFramer::new(10);
        let mut out = Vec::new();
        framer.push(b"9999999999 <1>", &mut out);
        assert!(out.is_empty(), "its start is not complete yet");
        framer.push(b"0123456789abcdef\n<2>after\n", &mut out);
        assert_eq!(
            out,
            vec![SyslogFrame::Oversized {
                head: b"<1>0123456".to_vec(),
                total_len: 9_999_999_999
            }]
        );
        // A count that far past the limit breaks the stream rather than swallowing 10 GB.
        assert!(framer.is_broken() && framer.buffer.is_empty());
        framer.push(b"<3>more\n", &mut out);
        framer.finish(&mut out);
        assert_eq!(out.len(), 1);
        // Within sixteen times the limit, the message is skipped and the stream goes on.
        let out = frames(&[b"100 <1>".as_slice(), &[b'x'; 97], b"<2>ok\n"], 10);
        assert_eq!(out.last(), Some(&message("<2>ok")));
        // A long line, its end arriving later.
        let out = frames(&[b"<1>aaaaaaaaaaaaaaaa", b"aaaa\n<2>ok\n"], 10);
        assert_eq!(
            out,
            vec![
                SyslogFrame::Oversized {
                    head: b"<1>aaaaaaa".to_vec(),
                    total_len: 23
                },
                message("<2>ok"),
            ]
        );
    }

    proptest::proptest! {
        /// Any bytes, cut anywhere: no panic, the same frames as in one piece, messages within
        /// the limit, and the buffer never far past it.
        #[test]
        fn any_stream_frames_the_same_whatever_the_reads(
            stream in proptest::collection::vec(
                proptest::sample::select(b"<>0123456789 \n\r\0abc".to_vec()), 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            max in 1usize..40,
        ) {
            let whole = frames(&[&stream], max);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut framer = SyslogFramer::new(max);
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                framer.push(&stream[from..cut], &mut pieces);
                proptest::prop_assert!(framer.buffer.len() <= stream.len());
                from = cut;
            }
            framer.finish(&mut pieces);
            proptest::prop_assert_eq!(&pieces, &whole);
            for frame in &whole {
                match frame {
                    SyslogFrame::Message(m) => proptest::prop_assert!(m.len() <= max),
                    SyslogFrame::Oversized { head, total_len } => {
                        proptest::prop_assert!(head.len() <= max && *total_len > max)
                    }
                }
                if let SyslogFrame::Message(m) = frame {
                    let _ = message_body(m);
                }
            }
        }
    }

    #[test]
    fn the_body_is_the_msg_after_either_header() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed",
                "'su root' failed",
            ),
            (
                b"<165>1 2003-10-11T22:14:15.003Z host app 123 ID [exampleSDID@32473 iut=\"3\" eventSource=\"App\\]\"] {\"a\": 1}",
                "{\"a\": 1}",
            ),
            (
                b"<190>Dec  6 20:14:15 web1 nginx: 203.0.113.7 - - [06/Dec/2026:20:14:15 +0100] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8.5\"",
                "203.0.113.7 - - [06/Dec/2026:20:14:15 +0100] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8.5\"",
            ),
            (
                b"<190>Dec  6 20:14:15 nginx: 10.0.0.1 - - [06/Dec/2026:20:14:15 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"ua\"",
                "10.0.0.1 - - [06/Dec/2026:20:14:15 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"ua\"",
            ),
            (b"no header at all", "no header at all"),
        ];
        for (message, body) in cases {
            assert_eq!(
                String::from_utf8(message_body(message)).unwrap(),
                body,
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
