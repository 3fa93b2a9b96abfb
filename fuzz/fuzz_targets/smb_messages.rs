//! SMB: NetBIOS session framing over arbitrary chunks, and every SMB1 and SMB2 message reader
//! on what comes out of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::smb::nbss::{NbssEvent, NbssFramer};
use rpcscope::smb::{smb1, smb2};
use rpcscope::source::Timestamp;
use rpcscope::tcp::Origin;
use rpcscope_fuzz::{Piece, Script, stream_pieces};

fn read_smb2(m: &[u8]) {
    for part in smb2::split_compound(m) {
        let Some(h) = smb2::parse_header(part) else {
            continue;
        };
        let _ = h.is_response();
        let _ = smb2::tree_connect_path(part);
        let _ = smb2::tree_connect_share_type(part);
        let _ = smb2::create_name(part);
        let _ = smb2::create_file_id(part);
        let _ = smb2::close_file_id(part);
        let _ = smb2::read_file_id(part);
        let _ = smb2::read_data(part);
        let _ = smb2::write_request(part);
        let _ = smb2::ioctl(part, false);
        let _ = smb2::ioctl(part, true);
    }
}

fn read_smb1(m: &[u8]) {
    let Some(h) = smb1::parse_header(m) else {
        return;
    };
    for unicode in [false, true] {
        for b in smb1::blocks(m, h.command) {
            let _ = smb1::nt_create_name(&b, unicode);
            let _ = smb1::nt_create_fid(&b);
            let _ = smb1::write_andx(m, &b);
            let _ = smb1::read_andx_fid(&b);
            let _ = smb1::read_andx_data(m, &b);
            let _ = smb1::transact_nm_pipe(m, &b);
            let _ = smb1::transaction_data(m, &b);
            let _ = smb1::close_fid(&b);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script::new(data);
    let mut framer = NbssFramer::new();
    let origin = Origin {
        frame: 1,
        ts: Timestamp::default(),
    };
    let mut on_event = |e: NbssEvent<'_>| {
        if let NbssEvent::Message(m) = e {
            read_smb2(m.bytes);
            read_smb1(m.bytes);
        }
    };
    stream_pieces(&mut script, 4096, 61, 1, |piece| match piece {
        Piece::Data(offset, bytes) => framer.data(offset, bytes, origin, &mut on_event),
        Piece::Gap(offset, len) => framer.gap(offset, len, &mut on_event),
    });
});
