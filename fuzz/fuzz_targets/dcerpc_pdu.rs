//! DCE/RPC connection-oriented PDUs: the header and body readers on whole inputs, and the framer
//! that cuts PDUs from a byte stream delivered in arbitrary chunks with gaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpcscope::dcerpc::framing::{FrameEvent, Framer};
use rpcscope::dcerpc::pdu;
use rpcscope::source::Timestamp;
use rpcscope::tcp::{Origin, Span};
use rpcscope_fuzz::{Piece, Script, stream_pieces};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = pdu::parse_header(data) {
        let _ = (
            h.endian(),
            h.is_frameable(),
            h.is_plausible(),
            h.flags_plausible(),
        );
    }
    if let Ok(p) = pdu::parse_pdu(data) {
        assert!(p.stub_len() <= data.len());
    }

    let mut script = Script::new(data);
    let mut framer = Framer::new();
    let span = Span::single(Origin {
        frame: 1,
        ts: Timestamp::default(),
    });
    let mut on_event = |e: FrameEvent<'_>| {
        if let FrameEvent::Pdu(p) = e {
            let _ = pdu::parse_pdu(p.bytes);
        }
    };
    stream_pieces(&mut script, 2048, 53, 256, |piece| match piece {
        Piece::Data(offset, bytes) => framer.data(offset, bytes, span, &mut on_event),
        Piece::Gap(offset, len) => framer.gap(offset, len, &mut on_event),
    });
});
