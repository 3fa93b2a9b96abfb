//! Return codes of operations (analysis layer): the kinds Windows uses (NTSTATUS, Win32 error
//! codes, HRESULT, DCE `error_status_t`; MS-ERREF §2.1–2.3), their names from the tables in
//! `src/status/data/` (facts, see its README), and whether a code means failure.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

const NTSTATUS_TSV: &str = include_str!("status/data/ntstatus.tsv");
const WIN32_TSV: &str = include_str!("status/data/win32.tsv");
const HRESULT_TSV: &str = include_str!("status/data/hresult.tsv");

/// What kind of code an operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusKind {
    /// NTSTATUS (MS-ERREF §2.3): severity in the top two bits.
    NtStatus,
    /// A Win32 error code (MS-ERREF §2.2): 0 is success (`DWORD`, `NET_API_STATUS`, `WERROR`).
    Win32,
    /// HRESULT (MS-ERREF §2.1): the top bit is failure.
    HResult,
    /// DCE `error_status_t`: 0 is success; Windows returns Win32 codes in it.
    ErrorStatusT,
}

impl StatusKind {
    /// The name written in JSON (`type`) and in the description table.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::NtStatus => "ntstatus",
            Self::Win32 => "win32",
            Self::HResult => "hresult",
            Self::ErrorStatusT => "error_status_t",
        }
    }

    /// The kind named so.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::NtStatus,
            Self::Win32,
            Self::HResult,
            Self::ErrorStatusT,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// How a return code ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Success.
    Success,
    /// Not a failure, not plain success: an NTSTATUS warning (`STATUS_BUFFER_OVERFLOW`), or a
    /// Win32 code that only says more data waits or none is left (`ERROR_MORE_DATA`,
    /// `ERROR_NO_MORE_ITEMS`).
    Warning,
    /// Failure.
    Error,
}

/// Win32 codes that end enumerations rather than report failure.
const WIN32_WARNINGS: &[u32] = &[
    234, // ERROR_MORE_DATA
    259, // ERROR_NO_MORE_ITEMS
];

/// An operation's return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The code as on the wire.
    pub code: u32,
    /// What kind of code it is.
    pub kind: StatusKind,
}

impl Status {
    /// The code's name (`STATUS_ACCESS_DENIED`), when the tables know it. An HRESULT that
    /// wraps a Win32 code (`0x8007xxxx`) is named `HRESULT_FROM_WIN32(ERROR_...)`.
    #[must_use]
    pub fn name(&self) -> Option<Cow<'static, str>> {
        let table = |t: &'static [(u32, &'static str)]| lookup(t, self.code).map(Cow::Borrowed);
        match self.kind {
            StatusKind::NtStatus => table(&tables().ntstatus),
            StatusKind::Win32 => table(&tables().win32),
            StatusKind::ErrorStatusT => table(&tables().win32)
                .or_else(|| crate::dce::codes::fault_name(self.code).map(Cow::Borrowed)),
            StatusKind::HResult => table(&tables().hresult).or_else(|| {
                (self.code >> 16 == 0x8007)
                    .then(|| lookup(&tables().win32, self.code & 0xffff))
                    .flatten()
                    .map(|n| Cow::Owned(format!("HRESULT_FROM_WIN32({n})")))
            }),
        }
    }

    /// Whether the code is success, a warning or a failure.
    #[must_use]
    pub fn severity(&self) -> Severity {
        match self.kind {
            StatusKind::NtStatus => match self.code >> 30 {
                0 | 1 => Severity::Success,
                2 => Severity::Warning,
                _ => Severity::Error,
            },
            StatusKind::HResult if self.code & 0x8000_0000 != 0 => Severity::Error,
            StatusKind::HResult => Severity::Success,
            StatusKind::Win32 | StatusKind::ErrorStatusT => match self.code {
                0 => Severity::Success,
                c if WIN32_WARNINGS.contains(&c) => Severity::Warning,
                _ => Severity::Error,
            },
        }
    }

    /// The name, or the code in hex when it has none.
    #[must_use]
    pub fn label(&self) -> String {
        self.name()
            .map_or_else(|| format!("0x{:08x}", self.code), Cow::into_owned)
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Status", 3)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("type", self.kind.name())?;
        st.serialize_field("name", &self.name())?;
        st.end()
    }
}

struct Tables {
    ntstatus: Vec<(u32, &'static str)>,
    win32: Vec<(u32, &'static str)>,
    hresult: Vec<(u32, &'static str)>,
}

fn parse_table(text: &'static str) -> Vec<(u32, &'static str)> {
    let mut rows: Vec<(u32, &'static str)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (code, name) = l.split_once('\t')?;
            let code = u32::from_str_radix(code.trim_start_matches("0x"), 16).ok()?;
            Some((code, name.trim()))
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        ntstatus: parse_table(NTSTATUS_TSV),
        win32: parse_table(WIN32_TSV),
        hresult: parse_table(HRESULT_TSV),
    })
}

fn lookup(table: &[(u32, &'static str)], code: u32) -> Option<&'static str> {
    table
        .binary_search_by_key(&code, |r| r.0)
        .ok()
        .and_then(|i| table.get(i))
        .map(|r| r.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: u32, kind: StatusKind) -> Status {
        Status { code, kind }
    }

    #[test]
    fn names_the_codes_windows_headers_name() {
        let nt = st(0xC000_0022, StatusKind::NtStatus);
        assert_eq!(nt.name().as_deref(), Some("STATUS_ACCESS_DENIED"));
        assert_eq!(nt.severity(), Severity::Error);
        assert_eq!(
            st(0, StatusKind::NtStatus).name().as_deref(),
            Some("STATUS_SUCCESS")
        );
        let w = st(1060, StatusKind::Win32);
        assert_eq!(w.name().as_deref(), Some("ERROR_SERVICE_DOES_NOT_EXIST"));
        let h = st(0x8000_4002, StatusKind::HResult);
        assert_eq!(h.name().as_deref(), Some("E_NOINTERFACE"));
        let wrapped = st(0x8007_0424, StatusKind::HResult);
        assert_eq!(
            wrapped.name().as_deref(),
            Some("HRESULT_FROM_WIN32(ERROR_SERVICE_DOES_NOT_EXIST)")
        );
        assert_eq!(
            st(1753, StatusKind::ErrorStatusT).label(),
            "EPT_S_NOT_REGISTERED"
        );
        assert_eq!(st(0x1234_5678, StatusKind::Win32).label(), "0x12345678");
        let t = tables();
        let (n, w, h) = (t.ntstatus.len(), t.win32.len(), t.hresult.len());
        assert!(n >= 1500 && w >= 1500 && h >= 500, "{n} {w} {h}");
    }

    #[test]
    fn tells_failure_from_warning_and_success() {
        assert_eq!(
            st(0x8000_0005, StatusKind::NtStatus).severity(),
            Severity::Warning
        );
        assert_eq!(
            st(0x0000_0105, StatusKind::NtStatus).severity(),
            Severity::Success
        );
        assert_eq!(st(259, StatusKind::Win32).severity(), Severity::Warning);
        assert_eq!(st(5, StatusKind::Win32).severity(), Severity::Error);
        assert_eq!(st(1008, StatusKind::Win32).severity(), Severity::Error);
        assert_eq!(
            st(1, StatusKind::HResult).severity(),
            Severity::Success,
            "S_FALSE"
        );
        assert_eq!(
            st(0x8004_1002, StatusKind::HResult).severity(),
            Severity::Error
        );
        assert_eq!(
            st(0x16c9_a0d6, StatusKind::ErrorStatusT).severity(),
            Severity::Error
        );
    }

    #[test]
    fn serialises_as_the_contract_says() {
        let v = serde_json::to_value(st(0xC000_0022, StatusKind::NtStatus)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": 3_221_225_506_u32, "type": "ntstatus", "name": "STATUS_ACCESS_DENIED"})
        );
    }
}
