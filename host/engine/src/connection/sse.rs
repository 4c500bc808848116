//! Reads a server-sent event stream (the back office's `GET /v1/events`): `event:` and
//! `data:` lines, a blank line ends an event, `:` lines are comments (keep-alives).

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name (`message` when the event has none).
    pub name: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

/// Turns chunks of bytes into events; a line may arrive split across chunks.
#[derive(Debug, Default)]
pub struct SseReader {
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no line end: a long line arriving in small
    /// chunks is searched once, not again with every chunk.
    searched: usize,
    name: Option<String>,
    data: Option<String>,
}

/// Lines longer than this are not the protocol: the stream is refused rather than buffered
/// without end.
const MAX_LINE: usize = 1 << 20;

impl SseReader {
    /// Takes a chunk and returns the events it completed; an error when the stream is not
    /// an event stream (a line too long or not UTF-8).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(found) = self.pending[start.max(self.searched)..]
            .iter()
            .position(|&byte| byte == b'\n')
        {
            let end = start.max(self.searched) + found;
            let line = &self.pending[start..=end];
            start = end + 1;
            self.searched = 0;
            let line = std::str::from_utf8(line)
                .map_err(|_| "the event stream is not UTF-8 text".to_string())?
                .trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    events.push(SseEvent {
                        name: self.name.take().unwrap_or_else(|| "message".to_string()),
                        data,
                    });
                }
                self.name = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => self.name = Some(value.to_string()),
                "data" => {
                    match &mut self.data {
                        Some(data) => {
                            data.push('\n');
                            data.push_str(value);
                        }
                        None => self.data = Some(value.to_string()),
                    }
                    // Many short lines make a long event as well as one long line does.
                    if self.data.as_ref().is_some_and(|data| data.len() > MAX_LINE) {
                        return Err("the event stream sent an event longer than 1 MiB".to_string());
                    }
                }
                // `id:` and `retry:` are not used by the protocol; unknown fields are
                // ignored, as the standard says.
                _ => {}
            }
        }
        self.pending.drain(..start);
        self.searched = self.pending.len();
        if self.pending.len() > MAX_LINE {
            return Err("the event stream sent a line longer than 1 MiB".to_string());
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_of_endless_data_lines_is_refused() {
        let mut reader = SseReader::default();
        let line = format!("data: {}\n", "x".repeat(1000));
        let refused = (0..2000).find_map(|_| reader.push(line.as_bytes()).err());
        assert_eq!(
            refused.as_deref(),
            Some("the event stream sent an event longer than 1 MiB")
        );
    }

    fn check(chunks: &[&str], expect: &[(&str, &str)]) {
        let mut reader = SseReader::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(reader.push(chunk.as_bytes()).unwrap());
        }
        let events: Vec<(&str, &str)> = events
            .iter()
            .map(|event| (event.name.as_str(), event.data.as_str()))
            .collect();
        assert_eq!(events, expect, "{chunks:?}");
    }

    #[test]
    fn events() {
        check(
            &["event: hello\ndata: {\"a\":1}\n\n"],
            &[("hello", "{\"a\":1}")],
        );
        check(
            &["event: he", "llo\r\ndata:x\r\n", "\r\n"],
            &[("hello", "x")],
        );
        check(&[": keep-alive\n\n"], &[]);
        check(&["data: a\ndata: b\n\n"], &[("message", "a\nb")]);
        check(
            &["event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"],
            &[("a", "1"), ("b", "2")],
        );
        check(&["event: unfinished\ndata: 1\n"], &[]);
        check(&["id: 7\nretry: 10\nevent: x\ndata\n\n"], &[("x", "")]);
    }

    #[test]
    fn a_long_line_trickling_in_is_searched_once() {
        // Searched again from its start with every byte, this line took about 10^11 steps.
        let mut reader = SseReader::default();
        reader.push(b"event: hello\ndata: ").unwrap();
        for _ in 0..(512 * 1024) {
            assert!(reader.push(b"x").unwrap().is_empty());
        }
        let events = reader.push(b"\n\n").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "hello");
        assert_eq!(events[0].data.len(), 512 * 1024);
    }

    #[test]
    fn junk_is_refused() {
        let mut reader = SseReader::default();
        assert!(reader.push(&[0xff, 0xfe, b'\n']).is_err());
        let mut reader = SseReader::default();
        assert!(reader.push(&vec![b'x'; (1 << 20) + 1]).is_err());
    }
}
