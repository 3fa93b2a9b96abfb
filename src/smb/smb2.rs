//! SMB2/3 records (MS-SMB2 §2.2): the 64-byte header and the fixed parts of the commands that
//! carry named-pipe traffic: TREE_CONNECT, CREATE, CLOSE, READ, WRITE and IOCTL
//! (FSCTL_PIPE_TRANSCEIVE). Offsets inside a message are relative to the start of its header;
//! every offset and length is checked against the message. Compound chains are split by
//! [`split_compound`].

/// SMB2 protocol id `FE 'S' 'M' 'B'`.
pub const PROTOCOL_ID: [u8; 4] = [0xfe, b'S', b'M', b'B'];
/// SMB3 transform (encrypted message) id `FD 'S' 'M' 'B'`.
pub const TRANSFORM_ID: [u8; 4] = [0xfd, b'S', b'M', b'B'];
/// SMB3 compression transform id `FC 'S' 'M' 'B'`.
pub const COMPRESSED_ID: [u8; 4] = [0xfc, b'S', b'M', b'B'];
/// Size of the header.
pub const HEADER_LEN: usize = 64;

/// Commands used for pipes.
pub mod command {
    /// TREE_CONNECT
    pub const TREE_CONNECT: u16 = 0x03;
    /// CREATE
    pub const CREATE: u16 = 0x05;
    /// CLOSE
    pub const CLOSE: u16 = 0x06;
    /// READ
    pub const READ: u16 = 0x08;
    /// WRITE
    pub const WRITE: u16 = 0x09;
    /// IOCTL
    pub const IOCTL: u16 = 0x0b;
}

/// STATUS_PENDING: an interim answer; the final one follows.
pub const STATUS_PENDING: u32 = 0x0000_0103;
/// STATUS_BUFFER_OVERFLOW: a partial pipe read; the data is valid and more follows.
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;
/// FSCTL_PIPE_TRANSCEIVE: write then read a pipe message in one IOCTL.
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_c017;

const FLAG_RESPONSE: u32 = 0x1;
const FLAG_ASYNC: u32 = 0x2;

/// An SMB2 FileId (persistent and volatile parts).
pub type FileId = [u8; 16];

/// A little-endian `u16` at `at`.
pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// A little-endian `u32` at `at`.
pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A little-endian `u64` at `at`.
pub(super) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn file_id_at(b: &[u8], at: usize) -> Option<FileId> {
    b.get(at..at + 16)?.try_into().ok()
}

/// The SMB2 header fields rpcscope uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Command code.
    pub command: u16,
    /// NT status (responses).
    pub status: u32,
    /// Flags.
    pub flags: u32,
    /// Offset of the next message of a compound chain, 0 for the last.
    pub next_command: u32,
    /// Message id, matching a response to its request.
    pub message_id: u64,
    /// Tree id (synchronous messages only).
    pub tree_id: Option<u32>,
    /// Session id.
    pub session_id: u64,
}

impl Header {
    /// A server-to-client message.
    #[must_use]
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }
}

/// Parses the header of the message starting at `m[0]`.
#[must_use]
pub fn parse_header(m: &[u8]) -> Option<Header> {
    if m.get(..4)? != PROTOCOL_ID || u16_at(m, 4)? != 64 {
        return None;
    }
    let flags = u32_at(m, 16)?;
    Some(Header {
        command: u16_at(m, 12)?,
        status: u32_at(m, 8)?,
        flags,
        next_command: u32_at(m, 20)?,
        message_id: u64_at(m, 24)?,
        tree_id: if flags & FLAG_ASYNC == 0 {
            u32_at(m, 36)
        } else {
            None
        },
        session_id: u64_at(m, 40)?,
    })
}

/// The messages of an SMB2 message's compound chain (at most 64), without allocating.
pub fn split_compound(msg: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(msg);
    let mut taken = 0;
    std::iter::from_fn(move || {
        if taken == 64 {
            return None;
        }
        let here = rest?;
        let h = parse_header(here)?;
        taken += 1;
        let next = h.next_command as usize;
        if next == 0 || next < HEADER_LEN || next > here.len() {
            rest = None;
            return Some(here);
        }
        rest = Some(&here[next..]);
        Some(&here[..next])
    })
}

/// Bytes at `offset` (from the header start) of `len`, when they fit.
fn slice(m: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    m.get(offset..offset.checked_add(len)?)
}

/// Decodes UTF-16LE, replacing invalid units.
#[must_use]
pub fn utf16(b: &[u8]) -> String {
    crate::ndr::decode_utf16(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
}

/// TREE_CONNECT request: the share path (`\\server\IPC$`).
#[must_use]
pub fn tree_connect_path(m: &[u8]) -> Option<String> {
    let b = m.get(HEADER_LEN..)?;
    let off = usize::from(u16_at(b, 4)?);
    let len = usize::from(u16_at(b, 6)?);
    slice(m, off, len).map(utf16)
}

/// TREE_CONNECT response: the share type (1 disk, 2 pipe, 3 print).
#[must_use]
pub fn tree_connect_share_type(m: &[u8]) -> Option<u8> {
    m.get(HEADER_LEN + 2).copied()
}

/// CREATE request: the name as opened (for a pipe on IPC$, e.g. `samr`).
#[must_use]
pub fn create_name(m: &[u8]) -> Option<String> {
    let b = m.get(HEADER_LEN..)?;
    let off = usize::from(u16_at(b, 44)?);
    let len = usize::from(u16_at(b, 46)?);
    slice(m, off, len).map(utf16)
}

/// CREATE response: the FileId.
#[must_use]
pub fn create_file_id(m: &[u8]) -> Option<FileId> {
    file_id_at(m, HEADER_LEN + 64)
}

/// CLOSE request: the FileId.
#[must_use]
pub fn close_file_id(m: &[u8]) -> Option<FileId> {
    file_id_at(m, HEADER_LEN + 8)
}

/// READ request: the FileId.
#[must_use]
pub fn read_file_id(m: &[u8]) -> Option<FileId> {
    file_id_at(m, HEADER_LEN + 16)
}

/// READ response: the data.
#[must_use]
pub fn read_data(m: &[u8]) -> Option<&[u8]> {
    let b = m.get(HEADER_LEN..)?;
    let off = usize::from(*b.get(2)?);
    let len = u32_at(b, 4)? as usize;
    slice(m, off, len)
}

/// WRITE request: the FileId and the data.
#[must_use]
pub fn write_request(m: &[u8]) -> Option<(FileId, &[u8])> {
    let b = m.get(HEADER_LEN..)?;
    let off = usize::from(u16_at(b, 2)?);
    let len = u32_at(b, 4)? as usize;
    Some((file_id_at(b, 16)?, slice(m, off, len)?))
}

/// IOCTL request or response: control code, FileId, and the input (request) or output
/// (response) buffer.
#[must_use]
pub fn ioctl(m: &[u8], response: bool) -> Option<(u32, FileId, &[u8])> {
    let b = m.get(HEADER_LEN..)?;
    let code = u32_at(b, 4)?;
    let file = file_id_at(b, 8)?;
    let (off, len) = if response {
        (u32_at(b, 32)?, u32_at(b, 36)?)
    } else {
        (u32_at(b, 24)?, u32_at(b, 28)?)
    };
    Some((code, file, slice(m, off as usize, len as usize)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An SMB2 header for `command`, message id `mid`, tree 5, session 7.
    pub(crate) fn header(command: u16, mid: u64, response: bool, status: u32) -> Vec<u8> {
        let mut h = PROTOCOL_ID.to_vec();
        h.extend(64u16.to_le_bytes());
        h.extend(1u16.to_le_bytes());
        h.extend(status.to_le_bytes());
        h.extend(command.to_le_bytes());
        h.extend(1u16.to_le_bytes());
        h.extend(u32::from(response).to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(mid.to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(5u32.to_le_bytes());
        h.extend(7u64.to_le_bytes());
        h.extend([0u8; 16]);
        h
    }

    #[test]
    fn parses_write_and_read_with_offsets() {
        let mut w = header(command::WRITE, 9, false, 0);
        let mut body = vec![49, 0];
        body.extend((64u16 + 48).to_le_bytes());
        body.extend(3u32.to_le_bytes());
        body.extend(0u64.to_le_bytes());
        body.extend([0xaa; 16]);
        body.extend([0u8; 16]);
        w.extend(body);
        w.extend(b"abc");
        let (fid, data) = write_request(&w).unwrap();
        assert_eq!((fid, data), ([0xaa; 16], &b"abc"[..]));
        let h = parse_header(&w).unwrap();
        assert_eq!(
            (h.command, h.message_id, h.tree_id, h.is_response()),
            (9, 9, Some(5), false)
        );

        let mut r = header(command::READ, 10, true, STATUS_BUFFER_OVERFLOW);
        r.extend([17, 0, 80, 0]);
        r.extend(2u32.to_le_bytes());
        r.extend([0u8; 8]);
        r.extend(b"xy");
        assert_eq!(read_data(&r), Some(&b"xy"[..]));
        // a length beyond the message is refused, not sliced
        r[64 + 4] = 200;
        assert_eq!(read_data(&r), None);
    }

    #[test]
    fn splits_compound_chains() {
        let mut a = header(command::CREATE, 1, false, 0);
        a.resize(72, 0);
        a[20..24].copy_from_slice(&72u32.to_le_bytes());
        let mut b = header(command::CLOSE, 2, false, 0);
        b.resize(88, 0);
        let mut m = a.clone();
        m.extend(&b);
        let parts: Vec<&[u8]> = split_compound(&m).collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parse_header(parts[1]).unwrap().command, command::CLOSE);
        assert!(parse_header(b"\xfeSMB").is_none());
    }
}
