//! The IDL parser, the pipe decoder and the parameter decoder never panic, whatever they are
//! given: random text and mutated real interface descriptions for the parser, random stubs cut
//! anywhere for the decoders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rpcscope::idl::decode::PipeStream;
use rpcscope::idl::plan::PipeSpec;
use rpcscope::idl::values::{Decoded, Direction, StubBytes, decode_stub};
use rpcscope::idl::{Library, builtin, parse};
use rpcscope::ndr::Syntax;

const PIPETEST: &str = include_str!("../captures/idl/pipetest.idl");

/// The interface descriptions the decoders are run with: the built-in ones and the pipe test's.
fn libraries() -> Library {
    let mut lib = builtin::library().unwrap();
    lib.merge(parse(PIPETEST, "pipetest.idl").unwrap());
    lib
}

/// A real description with one edit: a character removed, duplicated or replaced.
fn mutated_idl() -> impl Strategy<Value = String> {
    let texts = [builtin::EPM_IDL, builtin::EFSR_IDL, PIPETEST];
    (
        0..texts.len(),
        any::<prop::sample::Index>(),
        0u8..3,
        any::<char>(),
    )
        .prop_map(move |(t, at, how, c)| {
            let mut chars: Vec<char> = texts[t].chars().collect();
            let i = at.index(chars.len());
            match how {
                0 => {
                    chars.remove(i);
                }
                1 => chars.insert(i, chars[i]),
                _ => chars[i] = c,
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics(text in "\\PC{0,400}", mutated in mutated_idl()) {
        let _ = parse(&text, "random.idl");
        if let Err(e) = parse(&mutated, "mutated.idl") {
            // Errors point at the file, line and column.
            prop_assert!(e.to_string().starts_with("mutated.idl:"), "{}", e);
        }
    }

    #[test]
    fn the_pipe_decoder_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..800),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        element in 1u64..9,
        ndr64 in any::<bool>(),
        little_endian in any::<bool>(),
    ) {
        let spec = PipeSpec { param: "p".into(), element_type: "t".into(), element: (element, element.min(8)) };
        let mut s = PipeStream::new(&[spec.clone(), spec], "in", 0, little_endian, ndr64, false);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut from = 0;
        for (frame, to) in at.into_iter().chain([bytes.len()]).enumerate() {
            s.feed(&bytes[from..to], frame as u64);
            from = to;
        }
        let reports = s.finish(true, None);
        for r in reports {
            prop_assert!(r.chunks.len() as u64 <= r.chunks_total);
            prop_assert_eq!(r.bytes, r.elements.saturating_mul(element));
        }
    }

    #[test]
    fn the_parameter_decoder_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
        iface in 0usize..4,
        opnum in 0u16..8,
        out in any::<bool>(),
        little_endian in any::<bool>(),
        ndr64 in any::<bool>(),
    ) {
        let lib = libraries();
        let iface = &lib.interfaces[iface % lib.interfaces.len()];
        let syntax = if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr };
        let direction = if out { Direction::Out } else { Direction::In };
        let mut d = Decoded::default();
        decode_stub(&lib, iface, opnum, StubBytes { bytes: &bytes, direction, little_endian, syntax }, &mut d);
        // A stub too short for its parameters says why.
        if bytes.is_empty() && iface.operations.get(usize::from(opnum)).is_some_and(|o| {
            o.params.iter().any(|p| p.has("in") && !p.name.is_empty() && !matches!(&p.ty, rpcscope::idl::Type::Base(b) if b == "handle_t"))
        }) && !out {
            prop_assert!(!d.errors.is_empty());
        }
    }
}

/// `import` statements are followed next to the importing file, each file once (cycles
/// included); a missing import is a warning naming where it was written.
#[test]
fn imports_are_read_next_to_the_importing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.idl"),
        "import \"types.idl\", \"ms-dtyp.idl\";\n\
         [uuid(12345678-1234-1234-1234-123456789abc), version(1.0)]\n\
         interface Main { void Get([in] RECORD *r); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("types.idl"),
        "import \"main.idl\";\ntypedef struct { long id; short kind; } RECORD;\n",
    )
    .unwrap();
    let lib = rpcscope::idl::load_files(&[dir.path().join("main.idl")]).unwrap();
    assert!(
        lib.types.contains_key("RECORD"),
        "the imported typedef is known"
    );
    assert_eq!(
        lib.interfaces.len(),
        1,
        "main.idl is read once despite the cycle"
    );
    assert_eq!(lib.warnings.len(), 1, "{:?}", lib.warnings);
    let w = &lib.warnings[0];
    assert!(
        w.contains("main.idl:1:21: import \"ms-dtyp.idl\" not found"),
        "{w}"
    );
    let missing = rpcscope::idl::load_files(&[dir.path().join("absent.idl")]).unwrap_err();
    assert!(missing.contains("absent.idl"), "{missing}");
}

proptest! {
    /// Every operation of Microsoft's interfaces (the built-in table), given random bytes in
    /// either byte order and syntax: the decoder never panics, never passes its value limit,
    /// and says why when it stops.
    #[test]
    fn the_decoder_never_panics_on_any_microsoft_operation(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        pick in any::<prop::sample::Index>(),
        op in any::<prop::sample::Index>(),
        out in any::<bool>(),
        little_endian in any::<bool>(),
        ndr64 in any::<bool>(),
    ) {
        let lib = rpcscope::idl::table::builtin_library();
        let iface = &lib.interfaces[pick.index(lib.interfaces.len())];
        prop_assume!(!iface.operations.is_empty());
        let opnum = u16::try_from(op.index(iface.operations.len())).unwrap();
        let syntax = if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr };
        let direction = if out { Direction::Out } else { Direction::In };
        let mut d = Decoded::default();
        decode_stub(lib, iface, opnum, StubBytes { bytes: &bytes, direction, little_endian, syntax }, &mut d);
        let json = serde_json::to_string(&d).unwrap();
        prop_assert!(json.len() < 64 * 1024 * 1024);
    }
}

#[test]
fn an_idl_file_past_the_size_limit_is_refused_and_an_import_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let big = "/* */\n".repeat((rpcscope::idl::MAX_IDL_FILE_BYTES / 6 + 1) as usize);
    std::fs::write(dir.path().join("big.idl"), &big).unwrap();
    let e = rpcscope::idl::load_files(&[dir.path().join("big.idl")]).unwrap_err();
    assert!(
        e.contains("big.idl") && e.contains("larger than 16 MiB"),
        "{e}"
    );
    std::fs::write(dir.path().join("main.idl"), "import \"big.idl\";\n").unwrap();
    let lib = rpcscope::idl::load_files(&[dir.path().join("main.idl")]).unwrap();
    assert!(
        lib.warnings
            .iter()
            .any(|w| w.contains("larger than 16 MiB")),
        "{:?}",
        lib.warnings
    );
}

/// One typedef of a generated type graph: `Ti` defined from the types `a` and `b` of the graph
/// (possibly itself), so that aliases, pointers, structures, unions, arrays and pipes refer to
/// each other in cycles.
fn typedef(i: usize, kind: u8, a: usize, b: usize) -> String {
    match kind % 7 {
        0 => format!("typedef T{a} T{i};"),
        1 => format!("typedef [unique] T{a} *T{i};"),
        2 => {
            format!("typedef struct _T{i} {{ long n; T{a} m; [unique] struct _T{b} *next; }} T{i};")
        }
        3 => format!(
            "typedef [switch_type(long)] union _T{i} {{ [case(1)] T{a} x; [case(2)] [unique] T{b} *y; [default] ; }} T{i};"
        ),
        4 => format!("typedef struct _T{i} {{ long n; [size_is(n)] T{a} v[]; T{b} w; }} T{i};"),
        5 => format!("typedef pipe T{a} T{i};"),
        _ => format!("typedef struct _T{i} {{ T{a} m; T{b} w; }} T{i};"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Type resolution terminates on every description: graphs of typedefs that refer to each
    /// other and to themselves in every way (by value too: a structure that contains itself)
    /// parse or fail with a place, and every operation over them plans and decodes any stub.
    #[test]
    fn recursive_type_graphs_resolve_plan_and_decode(
        types in proptest::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..8),
        stub in proptest::collection::vec(any::<u8>(), 0..512),
        ndr64 in any::<bool>(),
    ) {
        let n = types.len();
        let mut text = String::new();
        for (i, (kind, a, b)) in types.iter().enumerate() {
            text.push_str(&typedef(i, *kind, a.index(n), b.index(n)));
            text.push('\n');
        }
        text.push_str("[uuid(12345678-1234-1234-1234-123456789abc), version(1.0)]\ninterface graph\n{\n");
        for i in 0..n {
            text.push_str(&format!("    long Op{i}([in, unique] T{i} *p, [out] T{} *q);\n", (i + 1) % n));
        }
        text.push_str("}\n");
        let mut lib = match parse(&text, "graph.idl") {
            Ok(lib) => lib,
            Err(e) => {
                prop_assert!(e.to_string().starts_with("graph.idl:"), "{}", e);
                return Ok(());
            }
        };
        lib.link();
        let syntax = if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr };
        let iface = lib.interfaces[0].clone();
        for opnum in 0..n as u16 {
            for direction in [Direction::In, Direction::Out] {
                let mut d = Decoded::default();
                decode_stub(&lib, &iface, opnum, StubBytes { bytes: &stub, direction, little_endian: true, syntax }, &mut d);
                let _ = d.tree();
                serde_json::to_string(&d).unwrap();
            }
        }
    }
}
