//! The endpoint mapper (`e1af8308-5d1f-11c9-91a4-08002b14a0fa` v3, C706 appendix O; MS-RPCE
//! §2.2.1.2.5 / §3.1.1.5.1): decoding of ept_insert, ept_delete, ept_lookup, ept_map and
//! ept_lookup_handle_free requests and responses from their NDR stubs, towers ([`tower`]), and
//! the table of endpoints learned from answers ([`resolver`]).

pub mod resolver;
pub mod tower;

use serde::Serialize;

use crate::dcerpc::codes::fault_name;
use crate::dcerpc::{SyntaxId, Uuid, names};
use crate::event::InterfaceRef;
use crate::ndr::{NdrError, Reader, char_string};

/// The endpoint mapper's interface UUID.
pub const EPM_UUID: Uuid = Uuid([
    0xe1, 0xaf, 0x83, 0x08, 0x5d, 0x1f, 0x11, 0xc9, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa,
]);
/// ept_lookup's "no more entries" status (also "not registered" for ept_map); not an error.
pub const EPT_S_NOT_REGISTERED: u32 = 0x16c9_a0d6;

/// Operation numbers.
pub mod opnum {
    /// ept_insert
    pub const INSERT: u16 = 0;
    /// ept_delete
    pub const DELETE: u16 = 1;
    /// ept_lookup
    pub const LOOKUP: u16 = 2;
    /// ept_map
    pub const MAP: u16 = 3;
    /// ept_lookup_handle_free
    pub const LOOKUP_HANDLE_FREE: u16 = 4;
}

/// An interface as reported in JSON.
#[must_use]
pub fn interface_ref(s: SyntaxId) -> InterfaceRef {
    InterfaceRef {
        uuid: s.uuid.to_string(),
        version: s.version(),
        name: names::interface_name(s.uuid, s.major).map(str::to_string),
    }
}

/// One endpoint in a request or an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryView {
    /// String binding, e.g. `ncacn_ip_tcp:10.0.0.5[49667]`.
    pub binding: String,
    /// Interface of the tower.
    pub interface: Option<InterfaceRef>,
    /// Object UUID of an ept_lookup / ept_insert entry, when not nil.
    pub object: Option<String>,
    /// Annotation of an ept_lookup / ept_insert entry.
    pub annotation: Option<String>,
}

/// A decoded endpoint-mapper call (`"epm"` on a call record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EpmView {
    /// `rpc_c_ep_all_elts`, `rpc_c_ep_match_by_if`, `rpc_c_ep_match_by_obj`,
    /// `rpc_c_ep_match_by_both` (ept_lookup).
    pub inquiry: Option<String>,
    /// The interface asked for (ept_map's tower, or ept_lookup's interface id).
    pub requested_interface: Option<InterfaceRef>,
    /// The protocol tower of an ept_map request as a string binding.
    pub requested_binding: Option<String>,
    /// The object UUID asked for, when not nil.
    pub requested_object: Option<String>,
    /// Entries the client registers or removes (ept_insert, ept_delete).
    pub registered: Vec<EntryView>,
    /// Endpoints in the answer.
    pub endpoints: Vec<EntryView>,
    /// Status of the answer.
    pub status: Option<u32>,
    /// Its name (`ept_s_not_registered` ends an ept_lookup enumeration; it is not an error).
    pub status_name: Option<String>,
    /// Why a stub could not be decoded completely.
    pub error: Option<String>,
}

/// An endpoint from an answer, with the tower it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The endpoint.
    pub endpoint: tower::Endpoint,
    /// Annotation (ept_lookup).
    pub annotation: Option<String>,
}

fn nil_or(u: Uuid) -> Option<String> {
    (u != Uuid::default()).then(|| u.to_string())
}

fn read_tower(r: &mut Reader<'_>) -> Result<Option<tower::Tower>, NdrError> {
    r.enter()?;
    let max = r.count(1)?;
    let len = r.u32()? as usize;
    if len > max {
        return Err(NdrError::Invalid("tower longer than its conformance"));
    }
    let bytes = r.take(len)?;
    r.leave();
    Ok(tower::parse(bytes).ok())
}

/// An `ept_entry_t` without its deferred tower: (object, tower referent, annotation).
fn read_entry(r: &mut Reader<'_>) -> Result<(Uuid, Option<u64>, String), NdrError> {
    r.enter()?;
    let object = r.uuid()?;
    let tower = r.pointer()?;
    let (_, actual) = r.variance(1)?;
    let annotation = char_string(r.take(actual)?);
    r.leave();
    Ok((object, tower, annotation))
}

fn view(t: &tower::Tower, object: Option<String>, annotation: Option<String>) -> Option<EntryView> {
    let e = t.endpoint()?;
    Some(EntryView {
        binding: e.binding,
        interface: e.interface.map(interface_ref),
        object,
        annotation,
    })
}

fn inquiry_name(v: u32) -> String {
    match v {
        0 => "rpc_c_ep_all_elts".into(),
        1 => "rpc_c_ep_match_by_if".into(),
        2 => "rpc_c_ep_match_by_obj".into(),
        3 => "rpc_c_ep_match_by_both".into(),
        other => format!("inquiry_{other}"),
    }
}

/// Entries of an ept_insert / ept_delete request: a conformant array of `ept_entry_t`.
fn read_entries(r: &mut Reader<'_>, v: &mut EpmView) -> Result<(), NdrError> {
    let _num = r.u32()?;
    let n = r.count(28)?;
    let mut entries = Vec::new();
    for _ in 0..n {
        entries.push(read_entry(r)?);
    }
    for (object, ptr, annotation) in entries {
        if ptr.is_some()
            && let Some(t) = read_tower(r)?
            && let Some(e) = view(&t, nil_or(object), Some(annotation))
        {
            v.registered.push(e);
        }
    }
    Ok(())
}

/// Decodes a request stub into `v`.
///
/// # Errors
/// [`NdrError`] when the stub does not hold the operation's parameters.
pub fn decode_request(opnum: u16, r: &mut Reader<'_>, v: &mut EpmView) -> Result<(), NdrError> {
    match opnum {
        opnum::INSERT | opnum::DELETE => read_entries(r, v),
        opnum::LOOKUP => {
            v.inquiry = Some(inquiry_name(r.u32()?));
            if r.pointer()?.is_some() {
                v.requested_object = nil_or(r.uuid()?);
            }
            if r.pointer()?.is_some() {
                let uuid = r.uuid()?;
                let major = r.u16()?;
                let minor = r.u16()?;
                v.requested_interface = Some(interface_ref(SyntaxId { uuid, major, minor }));
            }
            Ok(())
        }
        opnum::MAP => {
            if r.pointer()?.is_some() {
                v.requested_object = nil_or(r.uuid()?);
            }
            if r.pointer()?.is_some()
                && let Some(t) = read_tower(r)?
            {
                v.requested_interface = t.interface().map(interface_ref);
                v.requested_binding = t.endpoint().map(|e| e.binding);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Decodes a response stub into `v`, returning the endpoints it announces.
///
/// # Errors
/// [`NdrError`] when the stub does not hold the operation's results.
pub fn decode_response(
    opnum: u16,
    r: &mut Reader<'_>,
    v: &mut EpmView,
) -> Result<Vec<Answered>, NdrError> {
    let mut out = Vec::new();
    match opnum {
        opnum::MAP => {
            r.context_handle()?;
            let _num = r.u32()?;
            // Conformant varying: the maximum (max_towers) may exceed what is sent.
            let _max = r.size()?;
            let (_, actual) = r.variance(4)?;
            let mut ptrs = Vec::new();
            for _ in 0..actual {
                ptrs.push(r.pointer()?);
            }
            for p in ptrs {
                if p.is_some()
                    && let Some(t) = read_tower(r)?
                    && let Some(e) = t.endpoint()
                {
                    v.endpoints.extend(view(&t, None, None));
                    out.push(Answered {
                        endpoint: e,
                        annotation: None,
                    });
                }
            }
        }
        opnum::LOOKUP => {
            r.context_handle()?;
            let _num = r.u32()?;
            // Conformant varying: the maximum (max_ents) may exceed what is sent.
            let _max = r.size()?;
            let (_, actual) = r.variance(28)?;
            let mut entries = Vec::new();
            for _ in 0..actual {
                entries.push(read_entry(r)?);
            }
            for (object, ptr, annotation) in entries {
                if ptr.is_some()
                    && let Some(t) = read_tower(r)?
                    && let Some(e) = t.endpoint()
                {
                    let ann = Some(annotation).filter(|a| !a.is_empty());
                    v.endpoints.extend(view(&t, nil_or(object), ann.clone()));
                    out.push(Answered {
                        endpoint: e,
                        annotation: ann,
                    });
                }
            }
        }
        opnum::LOOKUP_HANDLE_FREE => {
            r.context_handle()?;
        }
        opnum::INSERT | opnum::DELETE => {}
        _ => return Ok(out),
    }
    let status = r.u32()?;
    v.status = Some(status);
    v.status_name = Some(match status {
        0 => "rpc_s_ok".to_string(),
        s => fault_name(s).map_or_else(|| format!("0x{s:08x}"), str::to_string),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndr::Syntax;

    fn map_response(towers: &[Vec<u8>], status: u32) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s.extend((towers.len() as u32).to_le_bytes());
        s.extend(4u32.to_le_bytes());
        s.extend(0u32.to_le_bytes());
        s.extend((towers.len() as u32).to_le_bytes());
        for i in 0..towers.len() {
            s.extend((3 + i as u32).to_le_bytes());
        }
        for t in towers {
            s.extend((t.len() as u32).to_le_bytes());
            s.extend((t.len() as u32).to_le_bytes());
            s.extend(t);
            while s.len() % 4 != 0 {
                s.push(0);
            }
        }
        s.extend(status.to_le_bytes());
        s
    }

    #[test]
    fn decodes_ept_map_answers() {
        let stub = map_response(
            &[
                tower::tests::tcp_tower([10, 0, 0, 5], 49667),
                tower::tests::tcp_tower([0; 4], 135),
            ],
            0,
        );
        let mut v = EpmView::default();
        let got = decode_response(
            opnum::MAP,
            &mut Reader::new(&stub, true, Syntax::Ndr),
            &mut v,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(v.endpoints[0].binding, "ncacn_ip_tcp:10.0.0.5[49667]");
        assert_eq!(
            v.endpoints[0].interface.as_ref().unwrap().name.as_deref(),
            Some("Samr")
        );
        assert_eq!(
            (v.status, v.status_name.as_deref()),
            (Some(0), Some("rpc_s_ok"))
        );
    }

    #[test]
    fn decodes_ept_lookup_entries_with_a_larger_maximum() {
        let t = tower::tests::tcp_tower([127, 0, 0, 1], 49152);
        let mut s = vec![0u8; 20];
        s.extend(1u32.to_le_bytes()); // num_ents
        s.extend(500u32.to_le_bytes()); // max_ents: far more than sent
        s.extend(0u32.to_le_bytes());
        s.extend(1u32.to_le_bytes());
        s.extend([0u8; 16]); // object
        s.extend(1u32.to_le_bytes()); // tower referent
        s.extend(0u32.to_le_bytes());
        s.extend(5u32.to_le_bytes());
        s.extend(b"samr\0\0\0\0");
        s.extend((t.len() as u32).to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend(&t);
        while s.len() % 4 != 0 {
            s.push(0);
        }
        s.extend(EPT_S_NOT_REGISTERED.to_le_bytes());
        let mut v = EpmView::default();
        let got = decode_response(
            opnum::LOOKUP,
            &mut Reader::new(&s, true, Syntax::Ndr),
            &mut v,
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(v.endpoints[0].annotation.as_deref(), Some("samr"));
        assert_eq!(v.status, Some(EPT_S_NOT_REGISTERED));
    }

    #[test]
    fn end_of_list_status_is_named() {
        let stub = map_response(&[], EPT_S_NOT_REGISTERED);
        let mut v = EpmView::default();
        let got = decode_response(
            opnum::MAP,
            &mut Reader::new(&stub, true, Syntax::Ndr),
            &mut v,
        )
        .unwrap();
        assert!(got.is_empty());
        assert_eq!(v.status_name.as_deref(), Some("ept_s_not_registered"));
    }

    #[test]
    fn decodes_ept_map_request_tower() {
        let t = tower::tests::tcp_tower([0; 4], 0);
        let mut s = 0u32.to_le_bytes().to_vec(); // null object
        s.extend(2u32.to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend(&t);
        let mut v = EpmView::default();
        decode_request(opnum::MAP, &mut Reader::new(&s, true, Syntax::Ndr), &mut v).unwrap();
        assert_eq!(
            v.requested_interface.unwrap().uuid,
            "12345778-1234-abcd-ef00-0123456789ac"
        );
        assert_eq!(
            v.requested_binding.as_deref(),
            Some("ncacn_ip_tcp:0.0.0.0[0]")
        );
    }
}
