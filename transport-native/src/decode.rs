//! [`BodySink`]: collects a response body as it streams in, decoding `gzip` and `deflate` on
//! the fly, under one byte limit for what arrives and one for what it decodes to.
//!
//! Nothing is ever buffered past the limit: received bytes are counted before they are kept,
//! and the decoders write into a buffer that refuses to grow beyond the limit, so a
//! decompression bomb (a few kilobytes that inflate to gigabytes) fails with
//! [`TransportErrorKind::BodyTooLarge`] after at most `limit` bytes of output plus the
//! decoder's 32 KiB window. Both transports feed their bodies through it, so they decode and
//! limit alike.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::write::MultiGzDecoder;
use flate2::{Decompress, FlushDecompress, Status};
use http::{HeaderMap, header};
use tether_core::TransportErrorKind;

use crate::failure::{Failure, body_too_large};

/// A content coding this crate decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `gzip` or `x-gzip` (several members are decoded one after the other).
    Gzip,
    /// `deflate`: zlib-wrapped as RFC 9110 says, or raw as some servers send it.
    Deflate,
}

impl Coding {
    /// The coding of a response, when it is exactly one coding this crate decodes.
    /// Anything else (`br`, `identity`, a list of codings) is passed through undecoded.
    pub(crate) fn of(headers: &HeaderMap) -> Option<Coding> {
        let value = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?.trim();
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if value.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Collects one response body under `limit`, decoding it when it is encoded.
pub(crate) struct BodySink {
    limit: u64,
    received: u64,
    state: State,
}

enum State {
    /// Not encoded: kept as it arrives.
    Plain(Plain),
    Gzip(Box<MultiGzDecoder<Capped>>),
    Deflate(Box<Deflate>),
}

/// A plain body: the first chunk is kept as is (no copy for one-chunk bodies); later ones are
/// appended to one buffer, sized by the size hint when there is one.
struct Plain {
    hint: usize,
    kept: Kept,
}

enum Kept {
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl Plain {
    fn push(&mut self, chunk: Bytes, limit: u64) {
        match &mut self.kept {
            Kept::Empty => self.kept = Kept::One(chunk),
            Kept::One(first) => {
                let mut all = Vec::new();
                reserve_capped(&mut all, self.hint.max(first.len() + chunk.len()), limit);
                all.extend_from_slice(first);
                all.extend_from_slice(&chunk);
                self.kept = Kept::Many(all);
            }
            Kept::Many(all) => {
                reserve_capped(all, chunk.len(), limit);
                all.extend_from_slice(&chunk);
            }
        }
    }

    fn push_slice(&mut self, chunk: &[u8], limit: u64) {
        match &mut self.kept {
            Kept::Many(all) => {
                reserve_capped(all, chunk.len(), limit);
                all.extend_from_slice(chunk);
            }
            Kept::Empty => {
                let mut all = Vec::new();
                reserve_capped(&mut all, self.hint.max(chunk.len()), limit);
                all.extend_from_slice(chunk);
                self.kept = Kept::Many(all);
            }
            Kept::One(_) => self.push(Bytes::copy_from_slice(chunk), limit),
        }
    }
}

impl BodySink {
    /// A sink for a body of `coding` (`None`: kept as it arrives). `size_hint` (a
    /// `Content-Length`, say) sizes the buffer of a plain body, up to the limit.
    pub(crate) fn new(coding: Option<Coding>, limit: u64, size_hint: Option<u64>) -> Self {
        let cap = capacity_limit(limit);
        let state = match coding {
            None => State::Plain(Plain {
                hint: size_hint.map_or(0, |h| capacity_limit(h.min(limit))),
                kept: Kept::Empty,
            }),
            Some(Coding::Gzip) => State::Gzip(Box::new(MultiGzDecoder::new(Capped::new(cap)))),
            Some(Coding::Deflate) => State::Deflate(Box::new(Deflate::new(cap))),
        };
        BodySink {
            limit,
            received: 0,
            state,
        }
    }

    /// Whether the body is being decoded (the response's `Content-Encoding` and
    /// `Content-Length` must then go).
    pub(crate) fn is_decoding(&self) -> bool {
        !matches!(self.state, State::Plain(_))
    }

    /// Takes the next chunk of the body as received.
    pub(crate) fn push(&mut self, chunk: Bytes) -> Result<(), Failure> {
        self.count(chunk.len())?;
        let limit = self.limit;
        match &mut self.state {
            State::Plain(plain) => {
                plain.push(chunk, limit);
                Ok(())
            }
            State::Gzip(gz) => write_gzip(gz, &chunk, limit),
            State::Deflate(deflate) => deflate.push(&chunk, limit),
        }
    }

    /// Takes the next chunk of the body as received, borrowed.
    pub(crate) fn push_slice(&mut self, chunk: &[u8]) -> Result<(), Failure> {
        self.count(chunk.len())?;
        let limit = self.limit;
        match &mut self.state {
            State::Plain(plain) => {
                plain.push_slice(chunk, limit);
                Ok(())
            }
            State::Gzip(gz) => write_gzip(gz, chunk, limit),
            State::Deflate(deflate) => deflate.push(chunk, limit),
        }
    }

    /// The whole body, decoded. Fails when an encoded body is truncated or corrupt.
    pub(crate) fn finish(self) -> Result<Bytes, Failure> {
        match self.state {
            State::Plain(plain) => Ok(match plain.kept {
                Kept::Empty => Bytes::new(),
                Kept::One(bytes) => bytes,
                Kept::Many(all) => Bytes::from(all),
            }),
            // A 204, a HEAD answer or a 304 may say `Content-Encoding` and carry nothing.
            State::Gzip(_) | State::Deflate(_) if self.received == 0 => Ok(Bytes::new()),
            State::Gzip(mut gz) => {
                // The decoder holds back up to 32 KiB of output until it is finished, so the
                // limit may be crossed only now.
                if let Err(e) = gz.try_finish() {
                    return Err(if gz.get_ref().exceeded {
                        body_too_large(self.limit)
                    } else {
                        corrupt("gzip", &e)
                    });
                }
                Ok(Bytes::from(gz.get_mut().take()))
            }
            State::Deflate(mut deflate) => {
                deflate.finish()?;
                Ok(Bytes::from(deflate.out.take()))
            }
        }
    }

    fn count(&mut self, n: usize) -> Result<(), Failure> {
        self.received = self.received.saturating_add(n as u64);
        if self.received > self.limit {
            return Err(body_too_large(self.limit));
        }
        Ok(())
    }
}

fn write_gzip(gz: &mut MultiGzDecoder<Capped>, chunk: &[u8], limit: u64) -> Result<(), Failure> {
    gz.write_all(chunk).map_err(|e| {
        if gz.get_ref().exceeded {
            body_too_large(limit)
        } else {
            corrupt("gzip", &e)
        }
    })
}

fn corrupt(codec: &str, error: &io::Error) -> Failure {
    Failure::new(
        TransportErrorKind::Protocol,
        format!("{codec} decompression failed: {error}"),
    )
}

/// `limit` as a buffer size (a limit beyond the address space is no limit).
fn capacity_limit(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Makes room for `extra` more bytes in `buf`, growing geometrically but never beyond
/// `limit` bytes of capacity (the caller has checked that `len + extra <= limit`).
fn reserve_capped(buf: &mut Vec<u8>, extra: usize, limit: u64) {
    let needed = buf.len().saturating_add(extra);
    if needed <= buf.capacity() {
        return;
    }
    let doubled = buf.capacity().saturating_mul(2).max(8 * 1024);
    let target = doubled.min(capacity_limit(limit)).max(needed);
    buf.reserve_exact(target - buf.len());
}

/// A `Write` target that refuses to hold more than `limit` bytes.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl Capped {
    fn new(limit: usize) -> Self {
        Capped {
            buf: Vec::new(),
            limit,
            exceeded: false,
        }
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decoded body exceeds the limit"));
        }
        reserve_capped(&mut self.buf, data.len(), self.limit as u64);
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming `deflate` decoder that tells zlib-wrapped from raw streams by their first two
/// bytes and notices a truncated stream.
struct Deflate {
    /// Up to two bytes seen before the wrapper is known.
    head: Vec<u8>,
    inflater: Option<Decompress>,
    done: bool,
    out: Capped,
}

impl Deflate {
    fn new(limit: usize) -> Self {
        Deflate {
            head: Vec::new(),
            inflater: None,
            done: false,
            out: Capped::new(limit),
        }
    }

    fn push(&mut self, chunk: &[u8], limit: u64) -> Result<(), Failure> {
        if self.inflater.is_some() {
            return self.run(chunk, limit);
        }
        self.head.extend_from_slice(chunk);
        if self.head.len() < 2 {
            return Ok(());
        }
        self.start();
        let head = std::mem::take(&mut self.head);
        self.run(&head, limit)
    }

    fn start(&mut self) {
        let h = &self.head;
        let zlib =
            h.len() >= 2 && h[0] & 0x0f == 8 && (u16::from(h[0]) << 8 | u16::from(h[1])) % 31 == 0;
        self.inflater = Some(Decompress::new(zlib));
    }

    fn run(&mut self, mut input: &[u8], limit: u64) -> Result<(), Failure> {
        let Some(inflater) = self.inflater.as_mut() else {
            return Ok(());
        };
        let mut scratch = [0_u8; 16 * 1024];
        while !self.done {
            let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress(input, &mut scratch, FlushDecompress::None)
                .map_err(|e| {
                    Failure::new(
                        TransportErrorKind::Protocol,
                        format!("deflate decompression failed: {e}"),
                    )
                })?;
            let consumed = (inflater.total_in() - in_before) as usize;
            let produced = (inflater.total_out() - out_before) as usize;
            input = &input[consumed..];
            if self.out.write(&scratch[..produced]).is_err() {
                return Err(body_too_large(limit));
            }
            if status == Status::StreamEnd {
                self.done = true;
            } else if consumed == 0 && produced == 0 {
                break;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        if self.inflater.is_none() {
            // Fewer than two bytes arrived: not a valid stream of either kind.
            self.start();
            let head = std::mem::take(&mut self.head);
            self.run(&head, self.out.limit as u64)?;
        }
        if !self.done {
            return Err(Failure::new(
                TransportErrorKind::Protocol,
                "deflate decompression failed: the stream is truncated",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `packed` in chunks of `step` bytes.
    fn decode(
        coding: Option<Coding>,
        packed: &[u8],
        limit: u64,
        step: usize,
    ) -> Result<Bytes, Failure> {
        let mut sink = BodySink::new(coding, limit, None);
        for chunk in packed.chunks(step) {
            sink.push(Bytes::copy_from_slice(chunk))?;
        }
        sink.finish()
    }

    #[test]
    fn decodes_gzip_zlib_and_raw_deflate_in_any_chunking() {
        let data = b"hello hello hello hello, tether ".repeat(200);
        for step in [1, 2, 3, 7, 100, 1 << 20] {
            for (coding, packed) in [
                (Coding::Gzip, gzip(&data)),
                (Coding::Deflate, zlib(&data)),
                (Coding::Deflate, raw_deflate(&data)),
            ] {
                let out = decode(Some(coding), &packed, 1 << 20, step).unwrap();
                assert_eq!(out.as_ref(), &data[..], "{coding:?} step {step}");
            }
        }
    }

    #[test]
    fn concatenated_gzip_members_are_all_decoded() {
        let mut packed = gzip(b"first ");
        packed.extend(gzip(b"second"));
        let out = decode(Some(Coding::Gzip), &packed, 100, 5).unwrap();
        assert_eq!(out.as_ref(), b"first second");
    }

    #[test]
    fn plain_bodies_are_kept_and_one_chunk_is_not_copied() {
        let chunk = Bytes::from_static(b"one chunk");
        let mut sink = BodySink::new(None, 100, Some(9));
        sink.push(chunk.clone()).unwrap();
        let out = sink.finish().unwrap();
        assert_eq!(out.as_ptr(), chunk.as_ptr(), "no copy");
        let out = decode(None, b"several chunks here", 100, 4).unwrap();
        assert_eq!(out.as_ref(), b"several chunks here");
        assert!(decode(None, b"", 0, 1).unwrap().is_empty());
    }

    #[test]
    fn the_limit_applies_to_received_and_to_decoded_bytes() {
        let data = vec![b'a'; 10_000];
        assert_eq!(decode(None, &data, 10_000, 999).unwrap().len(), 10_000);
        let err = decode(None, &data, 9_999, 999).unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::BodyTooLarge);
        for (coding, packed) in [(Coding::Gzip, gzip(&data)), (Coding::Deflate, zlib(&data))] {
            assert!(packed.len() < 200);
            assert_eq!(
                decode(Some(coding), &packed, 10_000, 50).unwrap().len(),
                10_000
            );
            let err = decode(Some(coding), &packed, 9_999, 50).unwrap_err();
            assert_eq!(err.kind, TransportErrorKind::BodyTooLarge, "{coding:?}");
        }
    }

    #[test]
    fn a_bomb_fails_without_buffering_past_the_limit() {
        // 10 MiB of zeros squeezed into about 10 KiB, against a 1 MiB limit.
        let zeros = vec![0_u8; 10 << 20];
        let limit = 1_u64 << 20;
        for (coding, packed) in [
            (Coding::Gzip, gzip(&zeros)),
            (Coding::Deflate, zlib(&zeros)),
        ] {
            assert!(packed.len() < 64 * 1024, "{}", packed.len());
            let mut sink = BodySink::new(Some(coding), limit, None);
            let mut failed = None;
            for chunk in packed.chunks(4096) {
                if let Err(e) = sink.push(Bytes::copy_from_slice(chunk)) {
                    failed = Some(e);
                    break;
                }
                // The decoded buffer never holds, nor reserves, more than the limit.
                let held = match &sink.state {
                    State::Gzip(gz) => gz.get_ref().buf.capacity(),
                    State::Deflate(d) => d.out.buf.capacity(),
                    State::Plain(_) => unreachable!(),
                };
                assert!(held as u64 <= limit, "{coding:?}: {held}");
            }
            let failed = failed.expect("the bomb is refused before its end");
            assert_eq!(failed.kind, TransportErrorKind::BodyTooLarge, "{coding:?}");
        }
    }

    #[test]
    fn corrupt_and_truncated_streams_are_protocol_errors() {
        let data = b"tether ".repeat(100);
        for (coding, packed) in [(Coding::Gzip, gzip(&data)), (Coding::Deflate, zlib(&data))] {
            let truncated = &packed[..packed.len() / 2];
            let err = decode(Some(coding), truncated, 1 << 20, 8).unwrap_err();
            assert_eq!(err.kind, TransportErrorKind::Protocol, "{coding:?}");
        }
        let err = decode(Some(Coding::Gzip), b"\x1f\x8bnot gzip at all", 100, 4).unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Protocol);
        let err = decode(
            Some(Coding::Deflate),
            &[0x78, 0x9c, 0xff, 0xff, 0xff],
            100,
            2,
        )
        .unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Protocol);
        let err = decode(Some(Coding::Deflate), &[0x78], 100, 1).unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Protocol);
    }

    #[test]
    fn empty_encoded_bodies_are_empty() {
        assert!(decode(Some(Coding::Gzip), b"", 100, 1).unwrap().is_empty());
        assert!(
            decode(Some(Coding::Deflate), b"", 100, 1)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn codings_are_read_from_the_header() {
        let of = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_ENCODING, v.parse().unwrap());
            Coding::of(&h)
        };
        assert_eq!(of("gzip"), Some(Coding::Gzip));
        assert_eq!(of(" X-GZIP "), Some(Coding::Gzip));
        assert_eq!(of("Deflate"), Some(Coding::Deflate));
        assert_eq!(of("br"), None);
        assert_eq!(of("gzip, br"), None);
        assert_eq!(of("identity"), None);
        assert_eq!(Coding::of(&HeaderMap::new()), None);
    }
}
