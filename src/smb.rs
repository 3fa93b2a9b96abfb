//! `ncacn_np`: DCE/RPC over SMB named pipes (MS-RPCE §2.1.1.2), the layer between TCP and
//! DCE/RPC for connections on ports 445 and 139.
//!
//! Each direction of the TCP stream is cut into SMB messages by [`nbss`]; SMB2/3 ([`smb2`],
//! including compound chains) and SMB1 ([`smb1`], including AndX chains) messages are then
//! followed through the pipe lifecycle: CREATE / NT_CREATE_ANDX (name → FileId), WRITE,
//! WRITE_ANDX, IOCTL FSCTL_PIPE_TRANSCEIVE and TransactNmPipe input (client → server bytes), READ,
//! READ_ANDX, IOCTL and TRANSACTION output (server → client bytes, including partial reads with
//! STATUS_BUFFER_OVERFLOW), and CLOSE. Every open file is keyed by (session, tree, FileId or FID)
//! and gets its own [`Channel`]; a file that is not a DCE/RPC pipe fails the channel's probe and
//! is dropped. Answers that arrive out of order are put back in the order of their requests.
//! Encrypted (SMB3 transform) messages are decrypted by [`crypto`] when the user's secrets give
//! their session's keys, and counted otherwise; compressed messages are counted, never parsed.
//!
//! Limits: [`MAX_OPEN_PIPES`] files, [`MAX_PENDING_REQUESTS`] unanswered requests,
//! [`MAX_WAITING_READS`] reads per pipe waiting for an earlier answer, and [`MAX_TREES`]
//! non-pipe trees per connection; reaching one evicts the oldest entry and records a
//! `limit_smb_*` anomaly.

pub mod crypto;
pub mod nbss;
pub mod smb1;
pub mod smb2;

use std::collections::{BTreeMap, VecDeque};

use crate::hash::{FastMap, FastSet};
use std::net::SocketAddr;

use crate::context::SessionContext;
use crate::dcerpc::call::KeptStubBytes;
use crate::dcerpc::call::TransportInfo;
use crate::dcerpc::channel::{Channel, Verdict};
use crate::knowledge::PipeOpened;
use crate::report::Tally;
use crate::tcp::{Dir, Held, Origin, Span};
use nbss::{NbssEvent, NbssFramer};

/// Files (possible pipes) followed per SMB connection.
pub const MAX_OPEN_PIPES: usize = 1024;
/// Requests awaiting their answer per SMB connection.
pub const MAX_PENDING_REQUESTS: usize = 4096;
/// Answered reads per pipe held back while an earlier read is unanswered.
pub const MAX_WAITING_READS: usize = 64;
/// Trees known not to be IPC$ per SMB connection.
pub const MAX_TREES: usize = 1024;

/// An open file: (session or UID, tree id, FileId or FID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// 1 for SMB1, 2 for SMB2/3.
    pub dialect: u8,
    /// SMB2 SessionId or SMB1 UID.
    pub session: u64,
    /// Tree id.
    pub tree: u32,
    /// SMB2 FileId, or the SMB1 FID in the first two bytes.
    pub file: [u8; 16],
}

/// What an unanswered request is waiting for.
#[derive(Clone, Debug)]
enum Pending {
    /// CREATE / NT_CREATE_ANDX of `name`; the answer carries the FileId.
    Create {
        name: String,
        session: u64,
        tree: u32,
    },
    /// TREE_CONNECT; the answer says whether the tree is a pipe share.
    TreeConnect,
    /// A read (READ, READ_ANDX, IOCTL transceive, TransactNmPipe) with its place in pipe order.
    Read { key: FileKey, order: u64 },
}

/// A read answered, waiting for earlier reads of the same pipe.
#[derive(Debug)]
struct Answer {
    data: Vec<u8>,
    /// The answer's bytes were lost in a TCP gap: this many bytes are missing instead.
    lost: u64,
    span: Span,
    dir: Dir,
}

#[derive(Debug)]
struct Pipe {
    /// `None` once the file proved not to be a DCE/RPC pipe.
    channel: Option<Box<Channel>>,
    /// Reads in request order; `None` until answered.
    reads: BTreeMap<u64, Option<Answer>>,
    last_used: u64,
}

/// SMB state of one TCP connection.
#[derive(Debug)]
pub struct SmbConn {
    senders: [SocketAddr; 2],
    /// Interface descriptions for decoding pipes.
    library: Option<std::sync::Arc<crate::idl::Library>>,
    /// The user's secrets, for unsealing.
    keys: Option<std::sync::Arc<crate::auth::keys::Keyring>>,
    /// The run's count of stub bytes kept for decoders.
    kept_stub_bytes: KeptStubBytes,
    framers: [NbssFramer; 2],
    pipes: FastMap<FileKey, Pipe>,
    pending: FastMap<u64, Pending>,
    pending_order: VecDeque<u64>,
    non_pipe_trees: FastSet<(u64, u32)>,
    /// Orders requests; SMB1 multiplex ids are not monotonic.
    order: u64,
    /// An SMB message has been seen on this connection.
    seen_smb: bool,
    /// Direction the SMB client sends in, once a request was seen.
    client: Option<Dir>,
    /// Pipes that carried DCE/RPC and are finished.
    associations: u64,
    encrypted: u64,
    /// SMB3 sessions and their keys, when the user gave secrets.
    crypto: Option<Box<crypto::Smb3Crypto>>,
}

/// Pending-map key of an SMB1 request: multiplex and process ids (bit 63 keeps them apart from
/// SMB2 message ids).
fn smb1_key(h: &smb1::Header) -> u64 {
    (1 << 63) | (u64::from(h.pid) << 16) | u64::from(h.mid)
}

fn smb1_file(h: &smb1::Header, fid: u16) -> FileKey {
    let mut file = [0u8; 16];
    file[..2].copy_from_slice(&fid.to_le_bytes());
    FileKey {
        dialect: 1,
        session: u64::from(h.uid),
        tree: u32::from(h.tid),
        file,
    }
}

impl FileKey {
    /// The FileId as reported: 32 hex digits of the SMB2 FileId as on the wire (persistent then
    /// volatile part, little-endian), or the SMB1 FID as 4 hex digits.
    #[must_use]
    pub fn label(&self) -> String {
        if self.dialect == 1 {
            format!("{:04x}", u16::from_le_bytes([self.file[0], self.file[1]]))
        } else {
            self.file.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// The context of one message: frames, direction and the run's tallies.
struct Ctx<'a> {
    span: Span,
    dir: Dir,
    tally: &'a mut Tally,
    cx: &'a mut SessionContext,
}

impl SmbConn {
    /// State for a connection between the two senders (indexed by [`Dir::index`]).
    #[must_use]
    pub fn new(
        senders: [SocketAddr; 2],
        library: Option<std::sync::Arc<crate::idl::Library>>,
        keys: Option<std::sync::Arc<crate::auth::keys::Keyring>>,
        kept_stub_bytes: KeptStubBytes,
    ) -> Self {
        Self {
            kept_stub_bytes,
            senders,
            library,
            crypto: keys
                .as_ref()
                .map(|k| Box::new(crypto::Smb3Crypto::new(Some(std::sync::Arc::clone(k))))),
            keys,
            framers: [NbssFramer::new(), NbssFramer::new()],
            pipes: FastMap::default(),
            pending: FastMap::default(),
            pending_order: VecDeque::new(),
            non_pipe_trees: FastSet::default(),
            order: 0,
            seen_smb: false,
            client: None,
            associations: 0,
            encrypted: 0,
        }
    }

    /// True once an SMB message was seen (a connection on an SMB port that shows none may carry
    /// DCE/RPC directly).
    #[must_use]
    pub fn seen_smb(&self) -> bool {
        self.seen_smb
    }

    /// Sender address of each direction.
    #[must_use]
    pub fn senders(&self) -> [SocketAddr; 2] {
        self.senders
    }

    /// In-order bytes of one direction.
    pub fn data(
        &mut self,
        dir: Dir,
        offset: u64,
        bytes: &[u8],
        origin: Origin,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        let mut framer = std::mem::take(&mut self.framers[dir.index()]);
        let before = framer.held();
        framer.data(offset, bytes, origin, &mut |ev| {
            self.on_event(dir, ev, tally, cx)
        });
        self.count_framer(dir, &mut framer, before, tally, cx);
        self.framers[dir.index()] = framer;
    }

    /// Bytes of one direction were never captured.
    pub fn gap(
        &mut self,
        dir: Dir,
        offset: u64,
        len: u64,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        let mut framer = std::mem::take(&mut self.framers[dir.index()]);
        let before = framer.held();
        framer.gap(offset, len, &mut |ev| self.on_event(dir, ev, tally, cx));
        self.count_framer(dir, &mut framer, before, tally, cx);
        self.framers[dir.index()] = framer;
    }

    /// Counts direction `dir`'s framer (which held `before` bytes) in the run's
    /// [`crate::context::FramerBytes`]; past the run's limit it gives up what it holds.
    fn count_framer(
        &mut self,
        dir: Dir,
        framer: &mut NbssFramer,
        before: Held,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        if cx.framer_bytes.update(before, framer.held()) {
            cx.framer_bytes.gave_up();
            let held = framer.held();
            framer.give_up(&mut |ev| self.on_event(dir, ev, tally, cx));
            cx.framer_bytes.update(held, framer.held());
        }
    }

    /// Frees both framers' buffers and takes them out of the run's count (the connection is
    /// finished, or turned out to carry DCE/RPC directly).
    pub fn release(&mut self, cx: &mut SessionContext) {
        for framer in &mut self.framers {
            let held = framer.held();
            framer.give_up(&mut |_| {});
            cx.framer_bytes.update(held, framer.held());
        }
    }

    fn on_event(
        &mut self,
        dir: Dir,
        ev: NbssEvent<'_>,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        match ev {
            NbssEvent::Lost => {
                // Any pipe may have lost bytes in this direction.
                tally.count("smb_messages_lost_in_gaps");
                let mut keys: Vec<FileKey> = self.pipes.keys().copied().collect();
                keys.sort();
                for key in keys {
                    self.with_channel(key, tally, cx, |c, tally, cx| c.lost(dir, tally, cx));
                }
            }
            NbssEvent::Message(m) => {
                self.seen_smb = true;
                tally.count("smb_messages");
                if m.cut {
                    tally.count("smb_messages_over_size_limit");
                }
                let mut ctx = Ctx {
                    span: m.span,
                    dir,
                    tally,
                    cx,
                };
                match m.bytes.get(..4) {
                    Some(id) if id == smb2::PROTOCOL_ID => {
                        if let Some(c) = self.crypto.as_mut() {
                            c.observe(m.bytes);
                        }
                        for part in smb2::split_compound(m.bytes) {
                            self.smb2(part, m.damaged || m.cut, &mut ctx);
                        }
                    }
                    Some(id) if id == smb1::PROTOCOL_ID => {
                        self.smb1(m.bytes, m.damaged || m.cut, &mut ctx)
                    }
                    Some(id) if id == smb2::TRANSFORM_ID => {
                        let from_client = self.client.map(|c| c == dir);
                        let opened = self
                            .crypto
                            .as_ref()
                            .map(|c| c.decrypt(m.bytes, from_client));
                        if let Some(Ok(plain)) = opened {
                            ctx.tally.count("smb3_decrypted_messages");
                            for part in smb2::split_compound(&plain) {
                                self.smb2(part, m.damaged || m.cut, &mut ctx);
                            }
                        } else {
                            if let Some(Err(crypto::Undecrypted::Failed)) = opened {
                                // a key was there and the tag did not match
                                ctx.tally.count("smb3_decryption_failures");
                            }
                            self.encrypted += 1;
                            ctx.tally.count("smb3_encrypted_messages");
                        }
                    }
                    Some(id) if id == smb2::COMPRESSED_ID => {
                        ctx.tally.count("smb3_compressed_messages");
                    }
                    _ => {}
                }
            }
        }
    }

    fn remember(&mut self, id: u64, p: Pending, tally: &mut Tally) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            while let Some(old) = self.pending_order.pop_front() {
                if self.pending.remove(&old).is_some() {
                    tally.anomaly("limit_smb_pending_requests", 0, || {
                        format!("more than {MAX_PENDING_REQUESTS} SMB requests awaiting an answer")
                    });
                    break;
                }
            }
        }
        if self.pending.insert(id, p).is_none() {
            self.pending_order.push_back(id);
        }
        if self.pending_order.len() > 2 * MAX_PENDING_REQUESTS {
            self.pending_order.retain(|k| self.pending.contains_key(k));
        }
    }

    fn smb2(&mut self, m: &[u8], damaged: bool, ctx: &mut Ctx<'_>) {
        use smb2::command;
        let Some(h) = smb2::parse_header(m) else {
            ctx.tally.count("smb_messages_malformed");
            return;
        };
        if !h.is_response() {
            self.order += 1;
            self.client.get_or_insert(ctx.dir);
            let tree = h.tree_id.unwrap_or(0);
            match h.command {
                command::TREE_CONNECT => {
                    self.remember(h.message_id, Pending::TreeConnect, ctx.tally)
                }
                command::CREATE => {
                    if let Some(name) = smb2::create_name(m) {
                        let p = Pending::Create {
                            name,
                            session: h.session_id,
                            tree,
                        };
                        self.remember(h.message_id, p, ctx.tally);
                    }
                }
                command::WRITE => {
                    if let Some((file, data)) = smb2::write_request(m) {
                        let key = FileKey {
                            dialect: 2,
                            session: h.session_id,
                            tree,
                            file,
                        };
                        self.client_data(key, data, damaged, ctx);
                    }
                }
                command::READ => {
                    if let Some(file) = smb2::read_file_id(m) {
                        let key = FileKey {
                            dialect: 2,
                            session: h.session_id,
                            tree,
                            file,
                        };
                        self.expect_read(h.message_id, key, ctx);
                    }
                }
                command::IOCTL => {
                    if let Some((smb2::FSCTL_PIPE_TRANSCEIVE, file, input)) = smb2::ioctl(m, false)
                    {
                        let key = FileKey {
                            dialect: 2,
                            session: h.session_id,
                            tree,
                            file,
                        };
                        self.client_data(key, input, damaged, ctx);
                        self.expect_read(h.message_id, key, ctx);
                    }
                }
                command::CLOSE => {
                    if let Some(file) = smb2::close_file_id(m) {
                        let key = FileKey {
                            dialect: 2,
                            session: h.session_id,
                            tree,
                            file,
                        };
                        self.close(key, ctx);
                    }
                }
                _ => {}
            }
            return;
        }
        if h.status == smb2::STATUS_PENDING {
            return;
        }
        let Some(pending) = self.pending.remove(&h.message_id) else {
            return;
        };
        let ok = h.status == 0 || h.status == smb2::STATUS_BUFFER_OVERFLOW;
        match (pending, h.command) {
            (Pending::TreeConnect, command::TREE_CONNECT) => {
                if let (true, Some(tree), Some(kind)) =
                    (ok, h.tree_id, smb2::tree_connect_share_type(m))
                    && kind != 2
                {
                    if self.non_pipe_trees.len() < MAX_TREES {
                        self.non_pipe_trees.insert((h.session_id, tree));
                    } else {
                        ctx.tally
                            .anomaly("limit_smb_trees", ctx.span.last.frame, || {
                                format!(
                                    "more than {MAX_TREES} disk or printer trees on one connection"
                                )
                            });
                    }
                }
            }
            (
                Pending::Create {
                    name,
                    session,
                    tree,
                },
                command::CREATE,
            ) => {
                if let (true, Some(file)) = (ok, smb2::create_file_id(m)) {
                    let key = FileKey {
                        dialect: 2,
                        session,
                        tree,
                        file,
                    };
                    self.open(key, Some(name), ctx);
                }
            }
            (Pending::Read { key, order }, command::READ | command::IOCTL) => {
                let data = if !ok {
                    None
                } else if h.command == command::READ {
                    smb2::read_data(m)
                } else {
                    smb2::ioctl(m, true).map(|(_, _, out)| out)
                };
                self.answer(key, order, data.unwrap_or(&[]), damaged, ctx);
            }
            _ => {}
        }
    }

    fn smb1(&mut self, m: &[u8], damaged: bool, ctx: &mut Ctx<'_>) {
        use smb1::command;
        let Some(h) = smb1::parse_header(m) else {
            ctx.tally.count("smb_messages_malformed");
            return;
        };
        let id = smb1_key(&h);
        if !h.is_response {
            self.order += 1;
            self.client.get_or_insert(ctx.dir);
        }
        for b in smb1::blocks(m, h.command) {
            if !h.is_response {
                match b.command {
                    command::NT_CREATE_ANDX => {
                        if let Some(name) = smb1::nt_create_name(&b, h.unicode) {
                            let p = Pending::Create {
                                name,
                                session: u64::from(h.uid),
                                tree: u32::from(h.tid),
                            };
                            self.remember(id, p, ctx.tally);
                        }
                    }
                    command::WRITE_ANDX => {
                        if let Some((fid, data)) = smb1::write_andx(m, &b) {
                            self.client_data(smb1_file(&h, fid), data, damaged, ctx);
                        }
                    }
                    command::READ_ANDX => {
                        if let Some(fid) = smb1::read_andx_fid(&b) {
                            self.expect_read(id, smb1_file(&h, fid), ctx);
                        }
                    }
                    command::TRANSACTION => {
                        if let Some((fid, data)) = smb1::transact_nm_pipe(m, &b) {
                            let key = smb1_file(&h, fid);
                            self.client_data(key, data, damaged, ctx);
                            self.expect_read(id, key, ctx);
                        }
                    }
                    command::CLOSE => {
                        if let Some(fid) = smb1::close_fid(&b) {
                            self.close(smb1_file(&h, fid), ctx);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let ok = smb1::status_carries_data(h.status);
            match b.command {
                command::NT_CREATE_ANDX => {
                    if let Some(Pending::Create {
                        name,
                        session,
                        tree,
                    }) = self.pending.remove(&id)
                        && let (true, Some(fid)) = (ok, smb1::nt_create_fid(&b))
                    {
                        let mut file = [0u8; 16];
                        file[..2].copy_from_slice(&fid.to_le_bytes());
                        self.open(
                            FileKey {
                                dialect: 1,
                                session,
                                tree,
                                file,
                            },
                            Some(name),
                            ctx,
                        );
                    }
                }
                command::READ_ANDX | command::TRANSACTION => {
                    // A transaction answer in several parts keeps its request until the last.
                    let Some(Pending::Read { key, order }) = self.pending.get(&id).cloned() else {
                        continue;
                    };
                    let data = if !ok {
                        None
                    } else if b.command == command::READ_ANDX {
                        smb1::read_andx_data(m, &b)
                    } else {
                        smb1::transaction_data(m, &b)
                    };
                    let more = b.command == command::TRANSACTION && ok && transaction_continues(&b);
                    if more {
                        // Deliver this part now, keep the slot for the next.
                        self.answer_part(key, data.unwrap_or(&[]), damaged, ctx);
                    } else {
                        self.pending.remove(&id);
                        self.answer(key, order, data.unwrap_or(&[]), damaged, ctx);
                    }
                }
                _ => {}
            }
        }
    }

    /// A file was opened (or first seen): start following it unless its tree is not a pipe share.
    fn open(&mut self, key: FileKey, name: Option<String>, ctx: &mut Ctx<'_>) {
        if self.non_pipe_trees.contains(&(key.session, key.tree)) {
            return;
        }
        if let Some(old) = self.pipes.remove(&key) {
            // FileId reuse: the old file is over.
            self.finish_pipe(old, ctx.cx);
        }
        if self.pipes.len() >= MAX_OPEN_PIPES
            && let Some(oldest) = self
                .pipes
                .iter()
                .min_by_key(|(k, p)| (p.last_used, **k))
                .map(|(k, _)| *k)
            && let Some(p) = self.pipes.remove(&oldest)
        {
            ctx.tally
                .anomaly("limit_smb_open_pipes", ctx.span.last.frame, || {
                    format!("more than {MAX_OPEN_PIPES} open files on one SMB connection")
                });
            self.finish_pipe(p, ctx.cx);
        }
        if let (Some(pipe), Some(client)) = (&name, self.client) {
            let server = self.senders[client.reverse().index()];
            ctx.cx.knowledge.pipe_opened(PipeOpened {
                client: self.senders[client.index()],
                server,
                pipe: pipe.clone(),
                ts: ctx.span.last.ts,
            });
        }
        let info = TransportInfo {
            transport: "ncacn_np",
            pipe: name.map(Into::into),
            file_id: Some(key.label().into()),
            sec_addr: None,
            expected: None,
            library: self.library.clone(),
            keys: self.keys.clone(),
            senders: self.senders,
            kept_stub_bytes: self.kept_stub_bytes.clone(),
        };
        self.pipes.insert(
            key,
            Pipe {
                channel: Some(Box::new(Channel::new(info, false))),
                reads: BTreeMap::new(),
                last_used: self.order,
            },
        );
    }

    /// The pipe of `key`, opened without a name when its CREATE was not captured.
    fn pipe(&mut self, key: FileKey, ctx: &mut Ctx<'_>) -> Option<&mut Pipe> {
        if !self.pipes.contains_key(&key) {
            self.open(key, None, ctx);
        }
        let order = self.order;
        let p = self.pipes.get_mut(&key)?;
        p.last_used = order;
        Some(p)
    }

    fn with_channel(
        &mut self,
        key: FileKey,
        tally: &mut Tally,
        cx: &mut SessionContext,
        f: impl FnOnce(&mut Channel, &mut Tally, &mut SessionContext) -> Verdict,
    ) {
        let Some(pipe) = self.pipes.get_mut(&key) else {
            return;
        };
        let Some(channel) = pipe.channel.as_mut() else {
            return;
        };
        if f(channel, tally, cx) == Verdict::Rejected {
            pipe.channel = None;
            pipe.reads.clear();
        }
    }

    fn client_data(&mut self, key: FileKey, data: &[u8], damaged: bool, ctx: &mut Ctx<'_>) {
        if self.pipe(key, ctx).is_none_or(|p| p.channel.is_none()) {
            return;
        }
        let (span, dir) = (ctx.span, ctx.dir);
        self.with_channel(key, ctx.tally, ctx.cx, |c, tally, cx| {
            if damaged {
                c.gap(dir, data.len() as u64, tally, cx)
            } else {
                c.data(dir, data, span, tally, cx)
            }
        });
    }

    fn expect_read(&mut self, id: u64, key: FileKey, ctx: &mut Ctx<'_>) {
        let order = self.order;
        if let Some(p) = self.pipe(key, ctx)
            && p.channel.is_some()
        {
            p.reads.insert(order, None);
        }
        self.remember(id, Pending::Read { key, order }, ctx.tally);
    }

    /// One part of a multi-part answer, delivered at once (its request stays pending).
    fn answer_part(&mut self, key: FileKey, data: &[u8], damaged: bool, ctx: &mut Ctx<'_>) {
        let (span, dir) = (ctx.span, ctx.dir);
        self.with_channel(key, ctx.tally, ctx.cx, |c, tally, cx| {
            if damaged {
                c.gap(dir, data.len() as u64, tally, cx)
            } else {
                c.data(dir, data, span, tally, cx)
            }
        });
    }

    /// A read was answered: deliver it and every later answer that waited for it, in order.
    fn answer(&mut self, key: FileKey, order: u64, data: &[u8], damaged: bool, ctx: &mut Ctx<'_>) {
        let Some(pipe) = self.pipes.get_mut(&key) else {
            return;
        };
        if pipe.channel.is_none() {
            return;
        }
        let answer = Answer {
            data: if damaged { Vec::new() } else { data.to_vec() },
            lost: if damaged { data.len() as u64 } else { 0 },
            span: ctx.span,
            dir: ctx.dir,
        };
        pipe.reads.insert(order, Some(answer));
        self.release_reads(key, ctx);
    }

    /// Delivers answered reads from the front; past [`MAX_WAITING_READS`] the oldest unanswered
    /// read is given up as lost.
    fn release_reads(&mut self, key: FileKey, ctx: &mut Ctx<'_>) {
        loop {
            let Some(pipe) = self.pipes.get_mut(&key) else {
                return;
            };
            let answered = pipe.reads.values().filter(|a| a.is_some()).count();
            let Some(mut first) = pipe.reads.first_entry() else {
                return;
            };
            match first.get_mut().take() {
                Some(a) => {
                    first.remove();
                    self.with_channel(key, ctx.tally, ctx.cx, |c, tally, cx| {
                        if a.lost > 0 {
                            c.gap(a.dir, a.lost, tally, cx)
                        } else {
                            c.data(a.dir, &a.data, a.span, tally, cx)
                        }
                    });
                }
                None if answered > MAX_WAITING_READS => {
                    first.remove();
                    ctx.tally.anomaly("limit_smb_waiting_reads", ctx.span.last.frame, || {
                        format!("more than {MAX_WAITING_READS} pipe reads waited for an unanswered one")
                    });
                    let dir = ctx.dir;
                    self.with_channel(key, ctx.tally, ctx.cx, |c, tally, cx| {
                        c.lost(dir, tally, cx)
                    });
                }
                None => return,
            }
        }
    }

    fn close(&mut self, key: FileKey, ctx: &mut Ctx<'_>) {
        if let Some(p) = self.pipes.remove(&key) {
            self.finish_pipe(p, ctx.cx);
        }
    }

    fn finish_pipe(&mut self, mut pipe: Pipe, cx: &mut SessionContext) {
        if let Some(c) = pipe.channel.as_mut() {
            if c.confirmed() {
                self.associations += 1;
            }
            c.finish(cx);
        }
    }

    /// The connection ended: every pipe's open calls are reported. Returns the number of pipes
    /// that carried DCE/RPC over the connection's life.
    pub fn finish(&mut self, tally: &mut Tally, cx: &mut SessionContext) -> u64 {
        self.release(cx);
        let mut keys: Vec<FileKey> = self.pipes.keys().copied().collect();
        keys.sort();
        for key in keys {
            if let Some(p) = self.pipes.remove(&key) {
                self.finish_pipe(p, cx);
            }
        }
        if self.encrypted > 0 {
            let (a, b, n) = (self.senders[0], self.senders[1], self.encrypted);
            tally.anomaly("smb3_encrypted", 0, || {
                format!("{a} <-> {b}: {n} encrypted SMB3 messages could not be read")
            });
        }
        self.associations
    }
}

/// True when a TRANSACTION answer says more data parts follow (displacement + count < total).
fn transaction_continues(b: &smb1::Block<'_>) -> bool {
    let w = b.words;
    let get = |at: usize| {
        w.get(at..at + 2)
            .map_or(0, |x| u16::from_le_bytes([x[0], x[1]]))
    };
    let total = get(2);
    let count = get(12);
    let displacement = get(16);
    u32::from(displacement) + u32::from(count) < u32::from(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;
    use smb2::tests::header;

    const FILE: [u8; 16] = [0x11; 16];

    fn nbss(m: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, (m.len() >> 8) as u8, m.len() as u8];
        out.extend(m);
        out
    }

    fn dce(ptype: u8, call_id: u32, stub: usize) -> Vec<u8> {
        let len = (24 + stub) as u16;
        let mut p = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
        p.extend(len.to_le_bytes());
        p.extend(0u16.to_le_bytes());
        p.extend(call_id.to_le_bytes());
        p.extend((stub as u32).to_le_bytes());
        p.extend([0, 0, 4, 0]);
        p.extend(std::iter::repeat_n(0x33, stub));
        p
    }

    fn create(mid: u64, response: bool) -> Vec<u8> {
        let mut m = header(smb2::command::CREATE, mid, response, 0);
        let mut body = vec![0u8; if response { 88 } else { 56 }];
        if response {
            body[64..80].copy_from_slice(&FILE);
        } else {
            body[44..46].copy_from_slice(&120u16.to_le_bytes());
            body[46..48].copy_from_slice(&8u16.to_le_bytes());
        }
        m.extend(body);
        if !response {
            m.extend("samr".encode_utf16().flat_map(u16::to_le_bytes));
        }
        m
    }

    fn write(mid: u64, data: &[u8]) -> Vec<u8> {
        let mut m = header(smb2::command::WRITE, mid, false, 0);
        let mut body = vec![0u8; 48];
        body[2..4].copy_from_slice(&112u16.to_le_bytes());
        body[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
        body[16..32].copy_from_slice(&FILE);
        m.extend(body);
        m.extend(data);
        m
    }

    fn read(mid: u64) -> Vec<u8> {
        let mut m = header(smb2::command::READ, mid, false, 0);
        let mut body = vec![0u8; 48];
        body[16..32].copy_from_slice(&FILE);
        m.extend(body);
        m
    }

    fn read_answer(mid: u64, data: &[u8]) -> Vec<u8> {
        let mut m = header(smb2::command::READ, mid, true, smb2::STATUS_BUFFER_OVERFLOW);
        m.extend([17, 0, 80, 0]);
        m.extend((data.len() as u32).to_le_bytes());
        m.extend([0u8; 8]);
        m.extend(data);
        m
    }

    #[test]
    fn reads_answered_out_of_order_are_put_back_in_request_order() {
        let senders = [
            "10.0.0.1:50000".parse().unwrap(),
            "10.0.0.2:445".parse().unwrap(),
        ];
        let mut conn = SmbConn::new(senders, None, None, KeptStubBytes::default());
        let mut tally = Tally::default();
        let mut queue = crate::context::SessionContext::default();
        let response = dce(2, 1, 200);
        let (first, second) = response.split_at(100);
        let to_server = [create(1, false), write(2, &dce(0, 1, 40)), read(3), read(4)];
        let to_client = [
            create(1, true),
            read_answer(4, second),
            read_answer(3, first),
        ];
        let (mut c_off, mut s_off) = (0u64, 0u64);
        let mut frame = 0;
        let mut send = |conn: &mut SmbConn, dir: Dir, m: &[u8], off: &mut u64| {
            frame += 1;
            let origin = Origin {
                frame,
                ts: Timestamp::default(),
            };
            let bytes = nbss(m);
            conn.data(dir, *off, &bytes, origin, &mut tally, &mut queue);
            *off += bytes.len() as u64;
        };
        send(&mut conn, Dir::FromInitiator, &to_server[0], &mut c_off);
        send(&mut conn, Dir::FromResponder, &to_client[0], &mut s_off);
        for m in &to_server[1..] {
            send(&mut conn, Dir::FromInitiator, m, &mut c_off);
        }
        for m in &to_client[1..] {
            send(&mut conn, Dir::FromResponder, m, &mut s_off);
        }
        assert_eq!(conn.finish(&mut tally, &mut queue), 1);
        queue.outbox.settle(u64::MAX, &mut tally);
        let calls: Vec<_> = queue.outbox.take_ready().collect();
        assert_eq!(calls.len(), 1);
        let c = &calls[0];
        assert_eq!(c.outcome, crate::model::Outcome::Response);
        assert_eq!(c.pipe.as_deref(), Some("samr"));
        assert_eq!(c.pipe_source, Some("create"));
        assert_eq!(c.transport, "ncacn_np");
        assert_eq!(c.interface_source, Some("pipe_name"));
        assert_eq!(c.response.as_ref().map(|r| r.stub_len), Some(200));
        assert_eq!(
            c.file_id.as_deref(),
            Some("11111111111111111111111111111111")
        );
    }
}
