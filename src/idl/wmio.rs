//! CIM objects as WMI marshals them (MS-WMIO §2.2), read for the parameter decoder: an
//! `IWbemClassObject` travels as a custom OBJREF whose unmarshaler is `CLSID_WbemClassObject`
//! and whose data is an encoding unit. WMI's ExecMethod arguments (`Win32_Process.Create`'s
//! `CommandLine`), PutInstance's objects (an event consumer's script) and the answers are such
//! objects. An instance reads as its class and its property values; a class as its name, its
//! superclass and its properties' types.
//!
//! Limits: [`MAX_OBJECT_DEPTH`] objects nested in properties, [`MAX_PROPERTIES`] properties and
//! [`MAX_ARRAY_ELEMENTS`] array elements per object; beyond them values are left out.

use crate::dce::Uuid;
use crate::ndr::{le16_at, le32_at, le64_at};

use super::value::{FieldName, Value};

/// CLSID_WbemClassObject, the unmarshaler of marshaled CIM objects (MS-WMI §2.2.4.1).
pub const WBEM_CLASS_OBJECT_CLSID: Uuid = Uuid([
    0x45, 0x90, 0xf8, 0x12, 0x1d, 0x3a, 0x11, 0xd0, 0x89, 0x1f, 0x00, 0xaa, 0x00, 0x4b, 0x2e, 0x24,
]);
/// Objects nested in object-typed properties that are decoded.
pub const MAX_OBJECT_DEPTH: usize = 4;
/// Properties read per object.
pub const MAX_PROPERTIES: usize = 1024;
/// Elements read per array property.
pub const MAX_ARRAY_ELEMENTS: usize = 1024;

/// The encoding unit's signature (MS-WMIO §2.2.1).
const SIGNATURE: u32 = 0x1234_5678;
/// ObjectFlags (§2.2.4).
const FLAG_CLASS: u8 = 0x01;
const FLAG_INSTANCE: u8 = 0x02;
const FLAG_DECORATED: u8 = 0x04;
/// CimType: the array flag and the base types (§2.2.8 and §2.3.1).
const CIM_ARRAY: u32 = 0x2000;

/// Strings a heap reference with its high bit set names (§2.2.82, the dictionary).
const DICTIONARY: [&str; 11] = [
    "'", "key", "", "read", "write", "volatile", "provider", "dynamic", "cimwin32", "DWORD",
    "CIMTYPE",
];

fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// A heap: its bytes (references are offsets into them).
#[derive(Clone, Copy)]
struct Heap<'a>(&'a [u8]);

impl<'a> Heap<'a> {
    /// A heap at `at`: its length (high bit set) then its bytes; and the offset after it.
    fn at(b: &'a [u8], at: usize) -> Option<(Self, usize)> {
        let len = usize::try_from(le32_at(b, at)? & 0x7fff_ffff).ok()?;
        let start = at + 4;
        let bytes = b.get(start..start.checked_add(len)?)?;
        Some((Self(bytes), start + len))
    }

    /// The encoded string a heap reference points at (§2.2.78: a flag byte, 0 for 8-bit
    /// characters and 1 for UTF-16LE, then the characters up to a null).
    fn string(self, r: u32) -> Option<String> {
        if r & 0x8000_0000 != 0 {
            let i = usize::try_from(r & 0x7fff_ffff).ok()?;
            return DICTIONARY.get(i).map(|s| (*s).to_string());
        }
        let at = usize::try_from(r).ok()?;
        let rest = self.0.get(at + 1..)?;
        match u8_at(self.0, at)? {
            0 => {
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                Some(rest[..end].iter().map(|&c| char::from(c)).collect())
            }
            1 => {
                let units: Vec<u16> = rest
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                Some(String::from_utf16_lossy(&units))
            }
            _ => None,
        }
    }
}

/// One property of a class (§2.2.14 and §2.2.17: its lookup entry and its information).
#[derive(Clone, Debug)]
struct Property {
    name: String,
    cim_type: u32,
    order: u16,
    offset: usize,
}

/// A class part (§2.2.13): name, properties, default values and heap.
struct ClassPart<'a> {
    name: Option<String>,
    superclass: Option<String>,
    properties: Vec<Property>,
    nd_table: &'a [u8],
    values: &'a [u8],
    heap: Heap<'a>,
    /// Offset just after the part.
    end: usize,
}

/// Length of the null-and-default table of `n` properties (2 bits each).
fn nd_len(n: usize) -> usize {
    (2 * n).div_ceil(8)
}

fn class_part(b: &[u8], at: usize) -> Option<ClassPart<'_>> {
    // ClassHeader: EncodingLength, a reserved octet, ClassNameRef, NdTableValueTableLength.
    let len = usize::try_from(le32_at(b, at)?).ok()?;
    let end = at.checked_add(len)?;
    let part = b.get(..end)?;
    let name_ref = le32_at(part, at + 5)?;
    let nd_values_len = usize::try_from(le32_at(part, at + 9)?).ok()?;
    // DerivationList (§2.2.15): its length, then the names of the superclasses, nearest first.
    let derivation = at + 13;
    let derivation_len = usize::try_from(le32_at(part, derivation)?).ok()?;
    let superclass = superclass_name(part.get(derivation + 4..derivation + derivation_len)?);
    // ClassQualifierSet (§2.2.20): skipped by its length.
    let qualifiers = derivation + derivation_len;
    let lookup = qualifiers + usize::try_from(le32_at(part, qualifiers)?).ok()?;
    let count = usize::try_from(le32_at(part, lookup)?).ok()?;
    let table = lookup + 4;
    let nd_at = table.checked_add(count.checked_mul(8)?)?;
    let nd = nd_len(count);
    let nd_table = part.get(nd_at..nd_at + nd)?;
    let values = part.get(nd_at + nd..nd_at.checked_add(nd_values_len)?)?;
    let (heap, _) = Heap::at(part, nd_at + nd_values_len)?;
    let mut properties = Vec::new();
    for i in 0..count.min(MAX_PROPERTIES) {
        let name_ref = le32_at(part, table + 8 * i)?;
        let info = usize::try_from(le32_at(part, table + 8 * i + 4)?).ok()?;
        // PropertyInfo (§2.2.17): CimType, DeclarationOrder, ValueTableOffset, ClassOfOrigin.
        properties.push(Property {
            name: heap.string(name_ref)?,
            cim_type: le32_at(heap.0, info)?,
            order: le16_at(heap.0, info + 4)?,
            offset: usize::try_from(le32_at(heap.0, info + 6)?).ok()?,
        });
    }
    properties.sort_by_key(|p| p.order);
    Some(ClassPart {
        name: heap.string(name_ref),
        superclass,
        properties,
        nd_table,
        values,
        heap,
        end,
    })
}

/// The first name of a derivation list's entries (§2.2.16: an encoded string, then the entry's
/// length).
fn superclass_name(list: &[u8]) -> Option<String> {
    Heap(list).string(0).filter(|s| !s.is_empty())
}

/// The two bits of property `order` in a null-and-default table: (null, default).
fn nd_bits(table: &[u8], order: u16) -> (bool, bool) {
    let bit = 2 * usize::from(order);
    let byte = table.get(bit / 8).copied().unwrap_or(0);
    let pair = (byte >> (bit % 8)) & 3;
    (pair & 1 != 0, pair & 2 != 0)
}

/// Bytes a value of `base` type takes in a value table or an array (references take 4).
fn value_size(base: u32) -> usize {
    match base {
        16 | 17 => 1,
        2 | 18 | 11 | 103 => 2,
        20 | 21 | 5 => 8,
        _ => 4,
    }
}

/// The name of a CIM type (§2.2.8), for class definitions.
fn type_name(cim_type: u32) -> String {
    let base = match cim_type & 0xfff {
        16 => "sint8",
        17 => "uint8",
        2 => "sint16",
        18 => "uint16",
        3 => "sint32",
        19 => "uint32",
        20 => "sint64",
        21 => "uint64",
        4 => "real32",
        5 => "real64",
        11 => "boolean",
        8 => "string",
        101 => "datetime",
        102 => "reference",
        103 => "char16",
        13 => "object",
        _ => "unknown",
    };
    if cim_type & CIM_ARRAY != 0 {
        format!("{base}[]")
    } else {
        base.to_string()
    }
}

/// One value of `base` type at `at` of `b`; references read from `heap`.
fn scalar(b: &[u8], at: usize, base: u32, heap: Heap<'_>, depth: usize) -> Option<Value> {
    Some(match base {
        16 => Value::Int(i64::from(i8::from_le_bytes([u8_at(b, at)?]))),
        17 => Value::UInt(u64::from(u8_at(b, at)?)),
        2 => Value::Int(i64::from(i16::from_le_bytes(le16_at(b, at)?.to_le_bytes()))),
        18 => Value::UInt(u64::from(le16_at(b, at)?)),
        3 => Value::Int(i64::from(i32::from_le_bytes(le32_at(b, at)?.to_le_bytes()))),
        19 => Value::UInt(u64::from(le32_at(b, at)?)),
        20 => Value::Int(i64::from_le_bytes(le64_at(b, at)?.to_le_bytes())),
        21 => Value::UInt(le64_at(b, at)?),
        4 => Value::Float(f64::from(f32::from_bits(le32_at(b, at)?)).to_bits()),
        5 => Value::Float(le64_at(b, at)?),
        11 => Value::Bool(le16_at(b, at)? != 0),
        103 => Value::Text(char::from_u32(u32::from(le16_at(b, at)?))?.to_string()),
        8 | 101 | 102 => Value::Text(heap.string(le32_at(b, at)?)?),
        13 => {
            let r = usize::try_from(le32_at(b, at)?).ok()?;
            // An embedded object: its encoding length, then an object block (§2.2.6).
            let len = usize::try_from(le32_at(heap.0, r)?).ok()?;
            let block = heap.0.get(r + 4..(r + 4).checked_add(len)?)?;
            object_block(block, depth + 1)?
        }
        _ => return None,
    })
}

/// A property's value: a scalar in the value table, or an array in the heap (§2.2.18).
fn value(values: &[u8], p: &Property, heap: Heap<'_>, depth: usize) -> Option<Value> {
    let base = p.cim_type & 0xfff;
    if p.cim_type & CIM_ARRAY == 0 {
        return scalar(values, p.offset, base, heap, depth);
    }
    let r = usize::try_from(le32_at(values, p.offset)?).ok()?;
    let count = usize::try_from(le32_at(heap.0, r)?).ok()?;
    let size = value_size(base);
    let items = (0..count.min(MAX_ARRAY_ELEMENTS))
        .map(|i| scalar(heap.0, r + 4 + i * size, base, heap, depth).unwrap_or(Value::Null))
        .collect();
    Some(Value::List(items))
}

/// An object block (§2.2.4): a class or an instance.
fn object_block(b: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_OBJECT_DEPTH {
        return Some(Value::Text(
            "(nested deeper than the decoder follows)".into(),
        ));
    }
    let flags = u8_at(b, 0)?;
    let mut at = 1;
    if flags & FLAG_DECORATED != 0 {
        // Decoration (§2.2.5): server and namespace, two encoded strings.
        for _ in 0..2 {
            let rest = b.get(at + 1..)?;
            let wide = u8_at(b, at)? == 1;
            let len = if wide {
                rest.chunks_exact(2).position(|c| c == [0, 0])? * 2 + 2
            } else {
                rest.iter().position(|&c| c == 0)? + 1
            };
            at += 1 + len;
        }
    }
    if flags & FLAG_INSTANCE != 0 {
        return instance(b, at, depth);
    }
    if flags & FLAG_CLASS != 0 {
        // ClassType (§2.2.7): the parent class part and its methods, then the class's own.
        let parent = class_part(b, at)?;
        let methods = usize::try_from(le32_at(b, parent.end)?).ok()?;
        let class = class_part(b, parent.end.checked_add(methods)?)?;
        return Some(Value::Fields(vec![
            ("class".into(), Value::Text(class.name.unwrap_or_default())),
            (
                "superclass".into(),
                class.superclass.map_or(Value::Null, Value::Text),
            ),
            (
                "properties".into(),
                Value::Fields(
                    class
                        .properties
                        .iter()
                        .map(|p| (p.name.as_str().into(), Value::Text(type_name(p.cim_type))))
                        .collect(),
                ),
            ),
        ]));
    }
    None
}

/// An instance (§2.2.9): its class part, then its own null-and-default table, values,
/// qualifiers and heap.
fn instance(b: &[u8], at: usize, depth: usize) -> Option<Value> {
    let class = class_part(b, at)?;
    let start = class.end;
    // EncodingLength, InstanceFlags, InstanceClassName.
    let mut at = start + 4 + 1 + 4;
    let nd = nd_len(class.properties.len());
    let nd_table = b.get(at..at + nd)?;
    at += nd;
    let values = b.get(at..at + class.values.len())?;
    at += class.values.len();
    // InstanceQualifierSet (by its length), InstancePropQualifierSet (a flag: 1, none; 2, one
    // qualifier set per property, each by its length).
    at += usize::try_from(le32_at(b, at)?).ok()?;
    let per_property = u8_at(b, at)? == 2;
    at += 1;
    if per_property {
        for _ in 0..class.properties.len() {
            at += usize::try_from(le32_at(b, at)?).ok()?;
        }
    }
    let (heap, _) = Heap::at(b, at)?;
    let properties = class
        .properties
        .iter()
        .map(|p| {
            let (null, default) = nd_bits(nd_table, p.order);
            let v = if null {
                Value::Null
            } else if default {
                let (class_null, _) = nd_bits(class.nd_table, p.order);
                if class_null {
                    Value::Null
                } else {
                    value(class.values, p, class.heap, depth).unwrap_or(Value::Null)
                }
            } else {
                value(values, p, heap, depth).unwrap_or(Value::Null)
            };
            (FieldName::from(p.name.as_str()), v)
        })
        .collect();
    Some(Value::Fields(vec![
        ("class".into(), Value::Text(class.name.unwrap_or_default())),
        ("properties".into(), Value::Fields(properties)),
    ]))
}

/// Decodes the object data of a custom OBJREF whose unmarshaler is `CLSID_WbemClassObject`:
/// an encoding unit (§2.2.1: signature, length, object block).
#[must_use]
pub fn decode(data: &[u8]) -> Option<Value> {
    if le32_at(data, 0)? != SIGNATURE {
        return None;
    }
    let len = usize::try_from(le32_at(data, 4)?).ok()?;
    let block = data.get(8..8usize.checked_add(len)?)?;
    object_block(block, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8-bit encoded string.
    fn s(text: &str) -> Vec<u8> {
        let mut v = vec![0];
        v.extend(text.as_bytes());
        v.push(0);
        v
    }

    /// A class part of class `name` with string and uint32 properties (no defaults).
    fn class_part_bytes(name: &str, props: &[(&str, u32)]) -> Vec<u8> {
        let mut heap = s(name);
        let mut lookup = Vec::new();
        let mut offset = 0u32;
        for (order, (pname, ty)) in props.iter().enumerate() {
            let name_ref = heap.len() as u32;
            heap.extend(s(pname));
            let info_ref = heap.len() as u32;
            heap.extend(ty.to_le_bytes());
            heap.extend((order as u16).to_le_bytes());
            heap.extend(offset.to_le_bytes());
            heap.extend(0u32.to_le_bytes());
            heap.extend(4u32.to_le_bytes()); // empty qualifier set
            lookup.extend(name_ref.to_le_bytes());
            lookup.extend(info_ref.to_le_bytes());
            offset += 4;
        }
        let nd = nd_len(props.len());
        let mut nd_values = vec![0x55; nd]; // every property null in the class
        nd_values.extend(vec![0xff; 4 * props.len()]);
        let mut body = Vec::new();
        body.extend(4u32.to_le_bytes()); // derivation list
        body.extend(4u32.to_le_bytes()); // class qualifiers
        body.extend((props.len() as u32).to_le_bytes());
        body.extend(lookup);
        body.extend(&nd_values);
        body.extend((0x8000_0000u32 | heap.len() as u32).to_le_bytes());
        body.extend(heap);
        let mut part = Vec::new();
        part.extend(((13 + body.len()) as u32).to_le_bytes());
        part.push(0);
        part.extend(0u32.to_le_bytes()); // class name at heap offset 0
        part.extend((nd_values.len() as u32).to_le_bytes());
        part.extend(body);
        part
    }

    #[test]
    fn an_instance_reads_as_its_class_and_values() {
        let props = [("CommandLine", 8), ("Flags", 19), ("Unset", 8)];
        let mut block = vec![FLAG_INSTANCE];
        block.extend(class_part_bytes("__PARAMETERS", &props));
        let mut heap = vec![0];
        let cmd = heap.len() as u32;
        heap.extend(s("cmd.exe /c whoami"));
        let mut inst = Vec::new();
        inst.push(0); // instance flags
        inst.extend(0u32.to_le_bytes()); // instance class name
        inst.push(0b0001_0000); // the third property is null
        inst.extend(cmd.to_le_bytes());
        inst.extend(7u32.to_le_bytes());
        inst.extend(0u32.to_le_bytes());
        inst.extend(4u32.to_le_bytes()); // instance qualifiers
        inst.push(1); // no property qualifiers
        inst.extend((0x8000_0000u32 | heap.len() as u32).to_le_bytes());
        inst.extend(heap);
        block.extend(((inst.len() + 4) as u32).to_le_bytes());
        block.extend(inst);
        let mut unit = SIGNATURE.to_le_bytes().to_vec();
        unit.extend((block.len() as u32).to_le_bytes());
        unit.extend(&block);
        let v = decode(&unit).unwrap();
        assert_eq!(
            v,
            Value::Fields(vec![
                ("class".into(), Value::Text("__PARAMETERS".into())),
                (
                    "properties".into(),
                    Value::Fields(vec![
                        (
                            "CommandLine".into(),
                            Value::Text("cmd.exe /c whoami".into())
                        ),
                        ("Flags".into(), Value::UInt(7)),
                        ("Unset".into(), Value::Null),
                    ])
                ),
            ])
        );
        // Every cut of it is refused or read without a panic.
        for cut in 0..unit.len() {
            let _ = decode(&unit[..cut]);
        }
    }

    #[test]
    fn garbage_is_not_an_object() {
        assert_eq!(decode(b""), None);
        assert_eq!(
            decode(&[0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(decode(&[0x78, 0x56, 0x34, 0x12, 1, 0, 0, 0, 9]), None);
    }
}
