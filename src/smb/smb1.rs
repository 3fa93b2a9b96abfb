//! SMB1 (CIFS) records (MS-CIFS §2.2): the 32-byte header, AndX chains, and the fixed parts of the
//! commands that carry named-pipe traffic: NT_CREATE_ANDX, WRITE_ANDX, READ_ANDX, TRANSACTION
//! (TransactNmPipe) and CLOSE. Offsets are relative to the start of the header and checked
//! against the message.

/// SMB1 protocol id `FF 'S' 'M' 'B'`.
pub const PROTOCOL_ID: [u8; 4] = [0xff, b'S', b'M', b'B'];
const HEADER_LEN: usize = 32;

/// Commands used for pipes.
pub mod command {
    /// SMB_COM_CLOSE
    pub const CLOSE: u8 = 0x04;
    /// SMB_COM_TRANSACTION
    pub const TRANSACTION: u8 = 0x25;
    /// SMB_COM_READ_ANDX
    pub const READ_ANDX: u8 = 0x2e;
    /// SMB_COM_WRITE_ANDX
    pub const WRITE_ANDX: u8 = 0x2f;
    /// SMB_COM_NT_CREATE_ANDX
    pub const NT_CREATE_ANDX: u8 = 0xa2;
}

/// TRANSACTION subcommand TransactNmPipe (write then read one pipe message).
pub const TRANSACT_NM_PIPE: u16 = 0x0026;
/// Named-pipe write mode bit: the data starts with a 2-byte message length (MS-CIFS 2.2.4.43.1).
const WRITE_MODE_MESSAGE_START: u16 = 0x0008;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The SMB1 header fields rpcscope uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// First command of the chain.
    pub command: u8,
    /// NT status.
    pub status: u32,
    /// A server-to-client message.
    pub is_response: bool,
    /// Strings are UTF-16.
    pub unicode: bool,
    /// Tree id.
    pub tid: u16,
    /// Process id (high and low parts).
    pub pid: u32,
    /// User (session) id.
    pub uid: u16,
    /// Multiplex id, matching a response to its request.
    pub mid: u16,
}

/// Parses the header.
#[must_use]
pub fn parse_header(m: &[u8]) -> Option<Header> {
    if m.get(..4)? != PROTOCOL_ID || m.len() < HEADER_LEN {
        return None;
    }
    Some(Header {
        command: m[4],
        status: u32_at(m, 5)?,
        is_response: m[9] & 0x80 != 0,
        unicode: u16_at(m, 10)? & 0x8000 != 0,
        tid: u16_at(m, 24)?,
        pid: (u32::from(u16_at(m, 12)?) << 16) | u32::from(u16_at(m, 26)?),
        uid: u16_at(m, 28)?,
        mid: u16_at(m, 30)?,
    })
}

/// One command block of an AndX chain: the parameter words and the data bytes.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// Command code.
    pub command: u8,
    /// Parameter words (2 × WordCount bytes).
    pub words: &'a [u8],
    /// Data bytes (ByteCount bytes).
    pub bytes: &'a [u8],
    /// Offset of `bytes` from the header start.
    pub bytes_at: usize,
}

const ANDX_COMMANDS: [u8; 5] = [0x2e, 0x2f, 0xa2, 0x73, 0x75];

/// The command blocks of a message, following AndX offsets (at most 8, forward only).
#[must_use]
pub fn blocks(m: &[u8], first: u8) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    let mut command = first;
    while out.len() < 8 {
        let Some(&wc) = m.get(at) else { break };
        let words_at = at + 1;
        let words_end = words_at + 2 * usize::from(wc);
        let (Some(words), Some(bc)) = (m.get(words_at..words_end), u16_at(m, words_end)) else {
            break;
        };
        let bytes_at = words_end + 2;
        let bytes = m.get(bytes_at..bytes_at + usize::from(bc)).unwrap_or(&[]);
        out.push(Block {
            command,
            words,
            bytes,
            bytes_at,
        });
        if !ANDX_COMMANDS.contains(&command) || words.len() < 4 || words[0] == 0xff {
            break;
        }
        let next = usize::from(u16_at(words, 2).unwrap_or(0));
        if next <= at {
            break;
        }
        command = words[0];
        at = next;
    }
    out
}

/// Decodes a pipe or file name (UTF-16LE when `unicode`, else 8-bit), stopping at NUL.
fn name(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
    }
}

/// NT_CREATE_ANDX request: the name opened (e.g. `\samr`).
#[must_use]
pub fn nt_create_name(b: &Block<'_>, unicode: bool) -> Option<String> {
    let len = usize::from(u16_at(b.words, 5)?);
    // A Unicode name is aligned to an even offset from the header start.
    let pad = usize::from(unicode && b.bytes_at % 2 == 1);
    Some(name(
        b.bytes.get(pad..pad + len).or(b.bytes.get(pad..))?,
        unicode,
    ))
}

/// NT_CREATE_ANDX response: the FID.
#[must_use]
pub fn nt_create_fid(b: &Block<'_>) -> Option<u16> {
    u16_at(b.words, 5)
}

/// WRITE_ANDX request: FID and data (without a message-start length prefix).
#[must_use]
pub fn write_andx<'m>(m: &'m [u8], b: &Block<'_>) -> Option<(u16, &'m [u8])> {
    let fid = u16_at(b.words, 4)?;
    let mode = u16_at(b.words, 14)?;
    let len = usize::from(u16_at(b.words, 20)?);
    let off = usize::from(u16_at(b.words, 22)?);
    let mut data = m.get(off..off + len)?;
    if mode & WRITE_MODE_MESSAGE_START != 0 && data.len() >= 3 && data[0] != 5 && data[2] == 5 {
        data = &data[2..];
    }
    Some((fid, data))
}

/// READ_ANDX request: the FID.
#[must_use]
pub fn read_andx_fid(b: &Block<'_>) -> Option<u16> {
    u16_at(b.words, 4)
}

/// READ_ANDX response: the data.
#[must_use]
pub fn read_andx_data<'m>(m: &'m [u8], b: &Block<'_>) -> Option<&'m [u8]> {
    let len = usize::from(u16_at(b.words, 10)?);
    let off = usize::from(u16_at(b.words, 12)?);
    m.get(off..off + len)
}

/// TRANSACTION request carrying TransactNmPipe: FID and the data written.
#[must_use]
pub fn transact_nm_pipe<'m>(m: &'m [u8], b: &Block<'_>) -> Option<(u16, &'m [u8])> {
    let count = usize::from(*b.words.get(26)?);
    if count < 2 || u16_at(b.words, 28)? != TRANSACT_NM_PIPE {
        return None;
    }
    let fid = u16_at(b.words, 30)?;
    let len = usize::from(u16_at(b.words, 22)?);
    let off = usize::from(u16_at(b.words, 24)?);
    Some((fid, m.get(off..off + len)?))
}

/// TRANSACTION response: the data returned.
#[must_use]
pub fn transaction_data<'m>(m: &'m [u8], b: &Block<'_>) -> Option<&'m [u8]> {
    let len = usize::from(u16_at(b.words, 12)?);
    let off = usize::from(u16_at(b.words, 14)?);
    m.get(off..off + len)
}

/// CLOSE request: the FID.
#[must_use]
pub fn close_fid(b: &Block<'_>) -> Option<u16> {
    u16_at(b.words, 0)
}

/// The status STATUS_BUFFER_OVERFLOW (partial pipe read; data valid).
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;

/// True when the status leaves the data of a response valid (success or a partial read).
#[must_use]
pub fn status_carries_data(status: u32) -> bool {
    status == 0 || status == STATUS_BUFFER_OVERFLOW
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(command: u8, response: bool) -> Vec<u8> {
        let mut h = PROTOCOL_ID.to_vec();
        h.push(command);
        h.extend([0u8; 4]);
        h.push(if response { 0x98 } else { 0x18 });
        h.extend(0xc807u16.to_le_bytes());
        h.extend([0u8; 12]);
        h.extend(3u16.to_le_bytes()); // tid
        h.extend(100u16.to_le_bytes()); // pid
        h.extend(7u16.to_le_bytes()); // uid
        h.extend(42u16.to_le_bytes()); // mid
        h
    }

    #[test]
    fn parses_transact_nm_pipe_and_response() {
        let mut m = header(command::TRANSACTION, false);
        let data = b"\x05\x00\x00\x03pdu";
        let mut words = vec![0u8; 28];
        let data_off = (32 + 1 + 32 + 2 + 8) as u16;
        words[22..24].copy_from_slice(&(data.len() as u16).to_le_bytes());
        words[24..26].copy_from_slice(&data_off.to_le_bytes());
        words[26] = 2;
        words.extend(TRANSACT_NM_PIPE.to_le_bytes());
        words.extend(0x4000u16.to_le_bytes());
        m.push((words.len() / 2) as u8);
        m.extend(&words);
        let mut bytes = b"\\PIPE\\\0".to_vec();
        bytes.push(0);
        bytes.extend(data);
        m.extend((bytes.len() as u16).to_le_bytes());
        m.extend(&bytes);
        let h = parse_header(&m).unwrap();
        assert_eq!(
            (h.tid, h.pid, h.uid, h.mid, h.is_response),
            (3, 100, 7, 42, false)
        );
        let b = blocks(&m, h.command);
        assert_eq!(b.len(), 1);
        let (fid, got) = transact_nm_pipe(&m, &b[0]).unwrap();
        assert_eq!((fid, got), (0x4000, &data[..]));
    }

    #[test]
    fn follows_andx_chains_forward_only() {
        let mut m = header(command::NT_CREATE_ANDX, true);
        // block 1: NT_CREATE_ANDX response chained to a looping offset
        let mut words = vec![0u8; 68];
        words[0] = command::READ_ANDX;
        words[2..4].copy_from_slice(&0u16.to_le_bytes());
        words[5..7].copy_from_slice(&0x4001u16.to_le_bytes());
        m.push(34);
        m.extend(&words);
        m.extend(0u16.to_le_bytes());
        let b = blocks(&m, command::NT_CREATE_ANDX);
        assert_eq!(b.len(), 1, "a backward AndX offset ends the chain");
        assert_eq!(nt_create_fid(&b[0]), Some(0x4001));
    }
}
