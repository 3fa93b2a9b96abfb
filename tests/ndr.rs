//! The NDR reader and the NDR engine never panic on hostile stubs, and never allocate in
//! proportion to a count read from the wire: the reader itself allocates nothing; the engine's
//! largest single allocation, whatever runs it (parameter decoding, the endpoint mapper,
//! DCOM), stays within the stub's size times the size of a value. One test per file, because
//! it measures the process's allocations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The measuring allocator is the only unsafe code in the project (the library and the binary
// forbid it).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use proptest::prelude::*;
use rpcscope::dcom;
use rpcscope::epm::{self, EpmView};
use rpcscope::idl::values::{Decoded, Direction, StubBytes, decode_stub};
use rpcscope::ndr::{Reader, Syntax};

struct Measuring;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Measuring = Measuring;

/// (largest single allocation, number of allocations) made by `f`.
fn measure(f: impl FnOnce()) -> (usize, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    COUNT.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
    f();
    ARMED.store(false, Ordering::Relaxed);
    (
        LARGEST.load(Ordering::Relaxed),
        COUNT.load(Ordering::Relaxed),
    )
}

/// Random stubs, and stubs shaped like endpoint-mapper answers with hostile counts.
fn stub() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1500),
        (proptest::collection::vec(any::<u8>(), 0..400), any::<u32>()).prop_map(|(tail, n)| {
            let mut s = vec![0u8; 20];
            for _ in 0..4 {
                s.extend(n.to_le_bytes());
            }
            s.extend(tail);
            s
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoding_hostile_stubs_never_panics_or_allocates_from_counts(
        bytes in stub(),
        opnum in 0u16..6,
        little_endian in any::<bool>(),
        ndr64 in any::<bool>(),
    ) {
        let syntax = if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr };
        // The name tables are built on first use; build them before measuring.
        let _ = rpcscope::dce::names::interface_name(epm::EPM_UUID, 3);
        // The reader alone allocates nothing, whatever it is asked to read.
        let (_, allocations) = measure(|| {
            let mut r = Reader::new(&bytes, little_endian, syntax);
            let _ = r.count(1);
            let _ = r.string(2);
            let _ = r.variance(4);
            let _ = r.pointer();
            let _ = r.uuid();
            let _ = r.take(usize::MAX);
        });
        prop_assert_eq!(allocations, 0);
        let stub = |direction| StubBytes { bytes: &bytes, direction, little_endian, syntax };
        // The endpoint mapper's description is compiled on first use; compile it before measuring.
        let _ = epm::decode_request(opnum, stub(Direction::In), &mut EpmView::default());
        let (request, _) = measure(|| {
            let mut v = EpmView::default();
            let _ = epm::decode_request(opnum, stub(Direction::In), &mut v);
        });
        let (response, _) = measure(|| {
            let mut v = EpmView::default();
            let _ = epm::decode_response(opnum, stub(Direction::Out), &mut v);
        });
        // DCOM's descriptions are compiled on first use too.
        let _ = dcom::decode_response(dcom::IREMOTE_SCM_ACTIVATOR, 4, stub(Direction::Out));
        let (oxid, _) = measure(|| {
            for (interface, opnum) in [(dcom::IREMOTE_SCM_ACTIVATOR, 4), (dcom::IOBJECT_EXPORTER, 5)] {
                let _ = dcom::decode_response(interface, opnum, stub(Direction::Out));
                let _ = dcom::activation_request(interface, opnum, stub(Direction::In));
            }
        });
        // The parameter decoder keeps one value per element it reads, so its largest allocation
        // (an array's values) is bounded by the stub size times the size of a value.
        let lib = rpcscope::idl::builtin::library().unwrap();
        let (parameters, _) = measure(|| {
            let mut d = Decoded::default();
            for direction in [Direction::In, Direction::Out] {
                decode_stub(&lib, &lib.interfaces[0], opnum, StubBytes { bytes: &bytes, direction, little_endian, syntax }, &mut d);
            }
        });
        let value_bound = 2 * std::mem::size_of::<rpcscope::idl::values::Value>() * bytes.len() + 4096;
        prop_assert!(
            parameters <= value_bound,
            "parameters: a {}-byte stub caused a {}-byte allocation", bytes.len(), parameters
        );
        // The endpoint mapper runs on the same engine.
        for (what, largest) in [("ept request", request), ("ept response", response)] {
            prop_assert!(
                largest <= value_bound,
                "{}: a {}-byte stub caused a {}-byte allocation", what, bytes.len(), largest
            );
        }
        prop_assert!(
            oxid <= value_bound,
            "oxid: a {}-byte stub caused a {}-byte allocation", bytes.len(), oxid
        );
    }
}
