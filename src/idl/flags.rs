//! Names of access masks, flags and codes that Microsoft's IDL declares as plain integers
//! (`DWORD dwDesiredAccess`, `REGSAM samDesired`): the generic and standard rights of every
//! access mask (MS-DTYP §2.4.3), the specific rights of the objects the service control
//! manager (MS-SCMR §3.1.4), the registry (MS-RRP §2.2.3), SAM (MS-SAMR §2.2.1) and the LSA
//! policy (MS-LSAD §2.2.1.1) open, service types, start types and error controls (MS-SCMR
//! §3.1.4.11), registry value types (MS-RRP §2.2.6), user account control codes (MS-SAMR
//! §2.2.1.12) and share types (MS-SRVS §2.2.2.4). Which table applies is chosen by the
//! interface, the operation and the parameter's name; the value stays a number in JSON and
//! reads as its names in the call table and the terminal interface.

/// A set of named values: `mask` when they combine as bits, else one of them.
struct Names {
    mask: bool,
    /// Values and names; composites (`KEY_READ`) first, so that they win over their bits.
    values: &'static [(u64, &'static str)],
}

/// Generic and standard rights (MS-DTYP §2.4.3), common to every access mask.
const STANDARD_RIGHTS: &[(u64, &str)] = &[
    (0x8000_0000, "GENERIC_READ"),
    (0x4000_0000, "GENERIC_WRITE"),
    (0x2000_0000, "GENERIC_EXECUTE"),
    (0x1000_0000, "GENERIC_ALL"),
    (0x0200_0000, "MAXIMUM_ALLOWED"),
    (0x0100_0000, "ACCESS_SYSTEM_SECURITY"),
    (0x0010_0000, "SYNCHRONIZE"),
    (0x0008_0000, "WRITE_OWNER"),
    (0x0004_0000, "WRITE_DAC"),
    (0x0002_0000, "READ_CONTROL"),
    (0x0001_0000, "DELETE"),
];

const SC_MANAGER_RIGHTS: &[(u64, &str)] = &[
    (0xF003F, "SC_MANAGER_ALL_ACCESS"),
    (0x1, "SC_MANAGER_CONNECT"),
    (0x2, "SC_MANAGER_CREATE_SERVICE"),
    (0x4, "SC_MANAGER_ENUMERATE_SERVICE"),
    (0x8, "SC_MANAGER_LOCK"),
    (0x10, "SC_MANAGER_QUERY_LOCK_STATUS"),
    (0x20, "SC_MANAGER_MODIFY_BOOT_CONFIG"),
];

const SERVICE_RIGHTS: &[(u64, &str)] = &[
    (0xF01FF, "SERVICE_ALL_ACCESS"),
    (0x1, "SERVICE_QUERY_CONFIG"),
    (0x2, "SERVICE_CHANGE_CONFIG"),
    (0x4, "SERVICE_QUERY_STATUS"),
    (0x8, "SERVICE_ENUMERATE_DEPENDENTS"),
    (0x10, "SERVICE_START"),
    (0x20, "SERVICE_STOP"),
    (0x40, "SERVICE_PAUSE_CONTINUE"),
    (0x80, "SERVICE_INTERROGATE"),
    (0x100, "SERVICE_USER_DEFINED_CONTROL"),
];

const KEY_RIGHTS: &[(u64, &str)] = &[
    (0xF003F, "KEY_ALL_ACCESS"),
    (0x20019, "KEY_READ"),
    (0x20006, "KEY_WRITE"),
    (0x1, "KEY_QUERY_VALUE"),
    (0x2, "KEY_SET_VALUE"),
    (0x4, "KEY_CREATE_SUB_KEY"),
    (0x8, "KEY_ENUMERATE_SUB_KEYS"),
    (0x10, "KEY_NOTIFY"),
    (0x20, "KEY_CREATE_LINK"),
    (0x100, "KEY_WOW64_64KEY"),
    (0x200, "KEY_WOW64_32KEY"),
];

const SAM_SERVER_RIGHTS: &[(u64, &str)] = &[
    (0xF003F, "SAM_SERVER_ALL_ACCESS"),
    (0x1, "SAM_SERVER_CONNECT"),
    (0x2, "SAM_SERVER_SHUTDOWN"),
    (0x4, "SAM_SERVER_INITIALIZE"),
    (0x8, "SAM_SERVER_CREATE_DOMAIN"),
    (0x10, "SAM_SERVER_ENUMERATE_DOMAINS"),
    (0x20, "SAM_SERVER_LOOKUP_DOMAIN"),
];

const DOMAIN_RIGHTS: &[(u64, &str)] = &[
    (0xF07FF, "DOMAIN_ALL_ACCESS"),
    (0x1, "DOMAIN_READ_PASSWORD_PARAMETERS"),
    (0x2, "DOMAIN_WRITE_PASSWORD_PARAMS"),
    (0x4, "DOMAIN_READ_OTHER_PARAMETERS"),
    (0x8, "DOMAIN_WRITE_OTHER_PARAMETERS"),
    (0x10, "DOMAIN_CREATE_USER"),
    (0x20, "DOMAIN_CREATE_GROUP"),
    (0x40, "DOMAIN_CREATE_ALIAS"),
    (0x80, "DOMAIN_GET_ALIAS_MEMBERSHIP"),
    (0x100, "DOMAIN_LIST_ACCOUNTS"),
    (0x200, "DOMAIN_LOOKUP"),
    (0x400, "DOMAIN_ADMINISTER_SERVER"),
];

const USER_RIGHTS: &[(u64, &str)] = &[
    (0xF07FF, "USER_ALL_ACCESS"),
    (0x1, "USER_READ_GENERAL"),
    (0x2, "USER_READ_PREFERENCES"),
    (0x4, "USER_WRITE_PREFERENCES"),
    (0x8, "USER_READ_LOGON"),
    (0x10, "USER_READ_ACCOUNT"),
    (0x20, "USER_WRITE_ACCOUNT"),
    (0x40, "USER_CHANGE_PASSWORD"),
    (0x80, "USER_FORCE_PASSWORD_CHANGE"),
    (0x100, "USER_LIST_GROUPS"),
    (0x200, "USER_READ_GROUP_INFORMATION"),
    (0x400, "USER_WRITE_GROUP_INFORMATION"),
];

const GROUP_RIGHTS: &[(u64, &str)] = &[
    (0xF001F, "GROUP_ALL_ACCESS"),
    (0x1, "GROUP_READ_INFORMATION"),
    (0x2, "GROUP_WRITE_ACCOUNT"),
    (0x4, "GROUP_ADD_MEMBER"),
    (0x8, "GROUP_REMOVE_MEMBER"),
    (0x10, "GROUP_LIST_MEMBERS"),
];

const ALIAS_RIGHTS: &[(u64, &str)] = &[
    (0xF001F, "ALIAS_ALL_ACCESS"),
    (0x1, "ALIAS_ADD_MEMBER"),
    (0x2, "ALIAS_REMOVE_MEMBER"),
    (0x4, "ALIAS_LIST_MEMBERS"),
    (0x8, "ALIAS_READ_INFORMATION"),
    (0x10, "ALIAS_WRITE_ACCOUNT"),
];

const POLICY_RIGHTS: &[(u64, &str)] = &[
    (0xF0FFF, "POLICY_ALL_ACCESS"),
    (0x1, "POLICY_VIEW_LOCAL_INFORMATION"),
    (0x2, "POLICY_VIEW_AUDIT_INFORMATION"),
    (0x4, "POLICY_GET_PRIVATE_INFORMATION"),
    (0x8, "POLICY_TRUST_ADMIN"),
    (0x10, "POLICY_CREATE_ACCOUNT"),
    (0x20, "POLICY_CREATE_SECRET"),
    (0x40, "POLICY_CREATE_PRIVILEGE"),
    (0x80, "POLICY_SET_DEFAULT_QUOTA_LIMITS"),
    (0x100, "POLICY_SET_AUDIT_REQUIREMENTS"),
    (0x200, "POLICY_AUDIT_LOG_ADMIN"),
    (0x400, "POLICY_SERVER_ADMIN"),
    (0x800, "POLICY_LOOKUP_NAMES"),
    (0x1000, "POLICY_NOTIFICATION"),
];

const SERVICE_TYPES: Names = Names {
    mask: true,
    values: &[
        (0x1, "SERVICE_KERNEL_DRIVER"),
        (0x2, "SERVICE_FILE_SYSTEM_DRIVER"),
        (0x10, "SERVICE_WIN32_OWN_PROCESS"),
        (0x20, "SERVICE_WIN32_SHARE_PROCESS"),
        (0x100, "SERVICE_INTERACTIVE_PROCESS"),
    ],
};

const START_TYPES: Names = Names {
    mask: false,
    values: &[
        (0, "SERVICE_BOOT_START"),
        (1, "SERVICE_SYSTEM_START"),
        (2, "SERVICE_AUTO_START"),
        (3, "SERVICE_DEMAND_START"),
        (4, "SERVICE_DISABLED"),
    ],
};

const ERROR_CONTROLS: Names = Names {
    mask: false,
    values: &[
        (0, "SERVICE_ERROR_IGNORE"),
        (1, "SERVICE_ERROR_NORMAL"),
        (2, "SERVICE_ERROR_SEVERE"),
        (3, "SERVICE_ERROR_CRITICAL"),
    ],
};

const REGISTRY_TYPES: Names = Names {
    mask: false,
    values: &[
        (0, "REG_NONE"),
        (1, "REG_SZ"),
        (2, "REG_EXPAND_SZ"),
        (3, "REG_BINARY"),
        (4, "REG_DWORD"),
        (5, "REG_DWORD_BIG_ENDIAN"),
        (6, "REG_LINK"),
        (7, "REG_MULTI_SZ"),
        (8, "REG_RESOURCE_LIST"),
        (9, "REG_FULL_RESOURCE_DESCRIPTOR"),
        (10, "REG_RESOURCE_REQUIREMENTS_LIST"),
        (11, "REG_QWORD"),
    ],
};

/// User account control codes (MS-SAMR §2.2.1.12), as `UserAccountControl` members and the
/// `AccountType` of SamrCreateUser2InDomain hold them.
const USER_ACCOUNT_CONTROL: Names = Names {
    mask: true,
    values: &[
        (0x1, "USER_ACCOUNT_DISABLED"),
        (0x2, "USER_HOME_DIRECTORY_REQUIRED"),
        (0x4, "USER_PASSWORD_NOT_REQUIRED"),
        (0x8, "USER_TEMP_DUPLICATE_ACCOUNT"),
        (0x10, "USER_NORMAL_ACCOUNT"),
        (0x20, "USER_MNS_LOGON_ACCOUNT"),
        (0x40, "USER_INTERDOMAIN_TRUST_ACCOUNT"),
        (0x80, "USER_WORKSTATION_TRUST_ACCOUNT"),
        (0x100, "USER_SERVER_TRUST_ACCOUNT"),
        (0x200, "USER_DONT_EXPIRE_PASSWORD"),
        (0x400, "USER_ACCOUNT_AUTO_LOCKED"),
        (0x800, "USER_ENCRYPTED_TEXT_PASSWORD_ALLOWED"),
        (0x1000, "USER_SMARTCARD_REQUIRED"),
        (0x2000, "USER_TRUSTED_FOR_DELEGATION"),
        (0x4000, "USER_NOT_DELEGATED"),
        (0x8000, "USER_USE_DES_KEY_ONLY"),
        (0x1_0000, "USER_DONT_REQUIRE_PREAUTH"),
        (0x2_0000, "USER_PASSWORD_EXPIRED"),
        (0x4_0000, "USER_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION"),
        (0x8_0000, "USER_NO_AUTH_DATA_REQUIRED"),
        (0x10_0000, "USER_PARTIAL_SECRETS_ACCOUNT"),
        (0x20_0000, "USER_USE_AES_KEYS"),
    ],
};

/// Share types (MS-SRVS §2.2.2.4): a type in the low bits, special and temporary flags above.
fn share_type(value: u64) -> String {
    let base = match value & 0x0fff_ffff {
        0 => "STYPE_DISKTREE".to_string(),
        1 => "STYPE_PRINTQ".to_string(),
        2 => "STYPE_DEVICE".to_string(),
        3 => "STYPE_IPC".to_string(),
        4 => "STYPE_CLUSTER_FS".to_string(),
        5 => "STYPE_CLUSTER_SOFS".to_string(),
        6 => "STYPE_CLUSTER_DFS".to_string(),
        other => format!("{other:#x}"),
    };
    let mut out = vec![base];
    if value & 0x8000_0000 != 0 {
        out.push("STYPE_SPECIAL".into());
    }
    if value & 0x4000_0000 != 0 {
        out.push("STYPE_TEMPORARY".into());
    }
    out.join("|")
}

/// Parameter names that hold an access mask.
fn is_access_mask(param: &str) -> bool {
    matches!(
        param,
        "DesiredAccess" | "dwDesiredAccess" | "samDesired" | "AccessMask" | "GrantedAccess"
    )
}

/// The specific rights of the object an operation opens or creates.
fn specific_rights(interface: &str, operation: &str) -> &'static [(u64, &'static str)] {
    match interface {
        "svcctl" if operation.starts_with("ROpenSCManager") => SC_MANAGER_RIGHTS,
        "svcctl" => SERVICE_RIGHTS,
        "winreg" => KEY_RIGHTS,
        "samr" => match operation {
            o if o.starts_with("SamrConnect") => SAM_SERVER_RIGHTS,
            "SamrOpenDomain" => DOMAIN_RIGHTS,
            o if o.contains("User") => USER_RIGHTS,
            o if o.contains("Group") => GROUP_RIGHTS,
            o if o.contains("Alias") => ALIAS_RIGHTS,
            _ => &[],
        },
        "lsarpc" if operation.starts_with("LsarOpenPolicy") => POLICY_RIGHTS,
        _ => &[],
    }
}

/// The names of `value` when parameter `param` of `operation` of `interface` is an access
/// mask, a flag set or a code the specifications name; none otherwise.
#[must_use]
pub fn name(interface: &str, operation: &str, param: &str, value: u64) -> Option<String> {
    if is_access_mask(param) {
        return Some(mask_names(
            value,
            &[specific_rights(interface, operation), STANDARD_RIGHTS],
        ));
    }
    if interface == "srvsvc" && param.starts_with("shi") && param.ends_with("_type") {
        return Some(share_type(value));
    }
    let names = match (interface, param) {
        ("samr", "UserAccountControl" | "AccountType") => USER_ACCOUNT_CONTROL,
        ("svcctl", "dwServiceType") => SERVICE_TYPES,
        ("svcctl", "dwStartType") => START_TYPES,
        ("svcctl", "dwErrorControl") => ERROR_CONTROLS,
        ("winreg", "dwType" | "lpType") => REGISTRY_TYPES,
        _ => return None,
    };
    if names.mask {
        return Some(mask_names(value, &[names.values]));
    }
    names
        .values
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| (*n).to_string())
}

/// Bits named from the tables in order (a composite taking all its bits at once), what is left
/// in hex: `SERVICE_START|SERVICE_STOP`, `KEY_READ|0x400`; `0` for no bit.
fn mask_names(value: u64, tables: &[&[(u64, &str)]]) -> String {
    let mut left = value;
    let mut out: Vec<String> = Vec::new();
    for &(bits, name) in tables.iter().flat_map(|t| t.iter()) {
        if bits != 0 && left & bits == bits {
            out.push(name.to_string());
            left &= !bits;
        }
    }
    if left != 0 || out.is_empty() {
        out.push(format!("{left:#x}"));
    }
    out.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_access_masks_by_the_object_opened() {
        let n = |i, o, p, v| name(i, o, p, v).unwrap();
        assert_eq!(
            n("svcctl", "ROpenSCManagerW", "dwDesiredAccess", 0xF003F),
            "SC_MANAGER_ALL_ACCESS"
        );
        assert_eq!(
            n("svcctl", "ROpenServiceW", "dwDesiredAccess", 0x30),
            "SERVICE_START|SERVICE_STOP"
        );
        assert_eq!(
            n("winreg", "BaseRegOpenKey", "samDesired", 0x2_0019 | 0x100),
            "KEY_READ|KEY_WOW64_64KEY"
        );
        assert_eq!(
            n("samr", "SamrOpenDomain", "DesiredAccess", 0x0200_0000),
            "MAXIMUM_ALLOWED"
        );
        assert_eq!(
            n("samr", "SamrOpenUser", "DesiredAccess", 0x2_0000 | 0x8000),
            "READ_CONTROL|0x8000"
        );
        assert_eq!(n("efsr", "EfsRpcOpenFileRaw", "AccessMask", 0), "0x0");
    }

    #[test]
    fn names_service_and_registry_codes() {
        assert_eq!(
            name("svcctl", "RCreateServiceW", "dwServiceType", 0x110).as_deref(),
            Some("SERVICE_WIN32_OWN_PROCESS|SERVICE_INTERACTIVE_PROCESS")
        );
        assert_eq!(
            name("svcctl", "RCreateServiceW", "dwStartType", 3).as_deref(),
            Some("SERVICE_DEMAND_START")
        );
        assert_eq!(name("svcctl", "RCreateServiceW", "dwStartType", 9), None);
        assert_eq!(
            name("winreg", "BaseRegSetValue", "dwType", 1).as_deref(),
            Some("REG_SZ")
        );
        assert_eq!(name("winreg", "BaseRegSetValue", "cbData", 1), None);
        assert_eq!(
            name(
                "samr",
                "SamrSetInformationUser2",
                "UserAccountControl",
                0x1_0210
            )
            .as_deref(),
            Some("USER_NORMAL_ACCOUNT|USER_DONT_EXPIRE_PASSWORD|USER_DONT_REQUIRE_PREAUTH")
        );
        assert_eq!(
            name("srvsvc", "NetrShareEnum", "shi1_type", 0x8000_0003).as_deref(),
            Some("STYPE_IPC|STYPE_SPECIAL")
        );
        assert_eq!(
            name("srvsvc", "NetrShareEnum", "shi1_type", 0).as_deref(),
            Some("STYPE_DISKTREE")
        );
    }
}
