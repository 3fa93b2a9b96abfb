//! Each NDR construct the engine decodes, in the three encodings it meets: NDR 2.0 little-endian,
//! NDR 2.0 big-endian and NDR64 (C706 chapter 14, MS-RPCE §2.2.5). Every stub is written here
//! by an encoder that knows only the wire rules (sizes, alignments, count and pointer widths),
//! and must decode to the same values in all three.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rpcscope::idl::values::{Decoded, Direction, StubBytes, decode_stub};
use rpcscope::idl::{Library, parse};
use rpcscope::ndr::Syntax;
use serde_json::{Value, json};

const IDL: &str = r#"
[uuid(12345678-1234-1234-1234-123456789abc), version(1.0), pointer_default(unique)]
interface constructs
{
    typedef enum { RED = 1, GREEN = 2 } COLOUR;
    typedef [v1_enum] enum { ONE = 1, TWO = 2 } WIDE;
    typedef struct { long n; [size_is(n)] long items[]; } COUNTED;
    typedef struct { short tag; [unique] long *value; hyper big; } LINKED;
    typedef [switch_type(short)] union { [case(1)] long number; [case(2)] hyper wide; [default] ; } CHOICE;
    void base([in] small s, [in] short h, [in] long l, [in] hyper y, [in] boolean b, [in] double d);
    void enums([in] COLOUR c, [in] WIDE w);
    void arrays([in] long n, [in, size_is(n)] long *fixed, [in, string] wchar_t *name);
    void structs([in] COUNTED *counted, [in] LINKED linked);
    void unions([in] short level, [in, switch_is(level)] CHOICE *choice);
    void pointers([in, unique] long *present, [in, unique] long *absent);
}
"#;

/// The three encodings.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    Little,
    Big,
    Ndr64,
}

/// Writes a stub by the wire rules of one encoding; alignment is from the stub's start.
struct Wire {
    enc: Encoding,
    bytes: Vec<u8>,
    next_referent: u64,
}

impl Wire {
    fn new(enc: Encoding) -> Self {
        Self {
            enc,
            bytes: Vec::new(),
            next_referent: 0x2_0000,
        }
    }
    fn align(&mut self, n: usize) -> &mut Self {
        while self.bytes.len() % n != 0 {
            self.bytes.push(0);
        }
        self
    }
    fn int(&mut self, v: u64, size: usize) -> &mut Self {
        self.align(size);
        let le = v.to_le_bytes();
        match self.enc {
            Encoding::Big => self.bytes.extend(le[..size].iter().rev()),
            _ => self.bytes.extend(&le[..size]),
        }
        self
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.int(u64::from(v), 1)
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.int(u64::from(v), 2)
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.int(u64::from(v), 4)
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.int(v, 8)
    }
    fn ndr64(&self) -> bool {
        matches!(self.enc, Encoding::Ndr64)
    }
    /// A conformance, offset or actual count: 4 bytes, 8 in NDR64.
    fn count(&mut self, n: u64) -> &mut Self {
        if self.ndr64() {
            self.u64(n)
        } else {
            self.int(n, 4)
        }
    }
    /// A non-null referent id.
    fn referent(&mut self) -> &mut Self {
        self.next_referent += 4;
        let id = self.next_referent;
        self.count(id)
    }
    fn null(&mut self) -> &mut Self {
        self.count(0)
    }
    /// An enum: 2 bytes, 4 with `v1_enum` or in NDR64.
    fn enumeration(&mut self, v: u32, v1: bool) -> &mut Self {
        if v1 || self.ndr64() {
            self.u32(v)
        } else {
            self.u16(v as u16)
        }
    }
    /// The word alignment of pointers and counts.
    fn word(&self) -> usize {
        if self.ndr64() { 8 } else { 4 }
    }
}

fn decode(lib: &Library, opnum: u16, w: &Wire) -> Value {
    let (little_endian, syntax) = match w.enc {
        Encoding::Little => (true, Syntax::Ndr),
        Encoding::Big => (false, Syntax::Ndr),
        Encoding::Ndr64 => (true, Syntax::Ndr64),
    };
    let mut d = Decoded::default();
    let stub = StubBytes {
        bytes: &w.bytes,
        direction: Direction::In,
        little_endian,
        syntax,
    };
    decode_stub(lib, &lib.interfaces[0], opnum, stub, &mut d);
    assert_eq!(d.errors, Vec::<String>::new(), "{:?} opnum {opnum}", w.enc);
    serde_json::to_value(&d).unwrap()["in"].clone()
}

/// Each construct: its operation, the stub for an encoding, and the values it must decode to.
type Construct = (u16, fn(&mut Wire), Value);

fn constructs() -> Vec<Construct> {
    vec![
        (
            0,
            |w| {
                w.u8(0xfe).u16(0xfffe).u32(0xffff_fff0).u64(1 << 40).u8(1);
                w.u64(2.5f64.to_bits());
            },
            json!({"s": -2, "h": -2, "l": -16, "y": 1u64 << 40, "b": true, "d": 2.5}),
        ),
        (
            1,
            |w| {
                w.enumeration(2, false).enumeration(1, true);
            },
            json!({"c": "GREEN", "w": "ONE"}),
        ),
        (
            2,
            |w| {
                w.u32(2);
                // [ref] pointer to a conformant array: no referent id, the count, the elements
                w.count(2).u32(7).u32(8);
                // [string] wchar_t *: a top-level pointer is [ref] whatever pointer_default says
                // (C706 §14.3.10); then max, offset, actual
                w.count(3).count(0).count(3);
                for u in "hi\0".encode_utf16() {
                    w.u16(u);
                }
            },
            json!({"n": 2, "fixed": [7, 8], "name": "hi"}),
        ),
        (
            3,
            |w| {
                // COUNTED: the conformance hoisted in front of the structure
                let word = w.word();
                w.count(2).align(4).u32(2).u32(10).u32(20);
                // LINKED: aligned to its largest member (hyper), the pointer's referent after it
                w.align(8.max(word)).u16(1).align(word).referent().u64(9);
                w.u32(42);
            },
            json!({"counted": {"n": 2, "items": [10, 20]},
                   "linked": {"tag": 1, "value": 42, "big": 9}}),
        ),
        (
            4,
            |w| {
                w.u16(2);
                // the union: its discriminant (short), then the arm; NDR64 aligns the union to its
                // largest member and the arm to the largest arm
                if w.ndr64() {
                    w.align(8);
                }
                w.u16(2);
                w.u64(1 << 33);
            },
            json!({"level": 2, "choice": {"discriminant": 2, "wide": 1u64 << 33}}),
        ),
        (
            5,
            |w| {
                w.referent().u32(5).null();
            },
            json!({"present": 5, "absent": null}),
        ),
    ]
}

#[test]
fn every_construct_decodes_the_same_in_every_encoding() {
    let lib = parse(IDL, "constructs.idl").unwrap();
    for (opnum, write, expected) in constructs() {
        for enc in [Encoding::Little, Encoding::Big, Encoding::Ndr64] {
            let mut w = Wire::new(enc);
            write(&mut w);
            assert_eq!(decode(&lib, opnum, &w), expected, "{enc:?} opnum {opnum}");
        }
    }
}

#[test]
fn the_encodings_differ_on_the_wire() {
    // the same values take different bytes: the test above would prove little if they did not
    let (_, write, _) = constructs()[2];
    let stubs: Vec<Vec<u8>> = [Encoding::Little, Encoding::Big, Encoding::Ndr64]
        .into_iter()
        .map(|enc| {
            let mut w = Wire::new(enc);
            write(&mut w);
            w.bytes
        })
        .collect();
    assert_ne!(stubs[0], stubs[1]);
    assert!(stubs[2].len() > stubs[0].len());
}
