//! Interface descriptions shipped with rpcscope, written for it from the public protocol
//! specifications: the endpoint mapper (C706 appendix O, MS-RPCE §2.2.1.2.5) and the raw file
//! operations of MS-EFSR (§3.1.4.2), whose `EFS_EXIM_PIPE` is a byte pipe.

use super::{IdlError, Library, parse};

/// The endpoint mapper.
pub const EPM_IDL: &str = r#"
[uuid(e1af8308-5d1f-11c9-91a4-08002b14a0fa), version(3.0), pointer_default(ref)]
interface epm
{
    typedef struct { unsigned long tower_length; [size_is(tower_length)] byte tower_octet_string[]; } twr_t;
    typedef [ptr] twr_t *twr_p_t;
    typedef struct { GUID object; twr_p_t tower; [string] char annotation[64]; } ept_entry_t;
    typedef [context_handle] void *ept_lookup_handle_t;
    void ept_insert([in] handle_t h, [in] unsigned long num_ents, [in, size_is(num_ents)] ept_entry_t entries[], [in] unsigned long replace, [out] error_status_t *status);
    void ept_delete([in] handle_t h, [in] unsigned long num_ents, [in, size_is(num_ents)] ept_entry_t entries[], [out] error_status_t *status);
    void ept_lookup([in] handle_t h, [in] unsigned long inquiry_type, [in, ptr] GUID *object, [in, ptr] RPC_IF_ID *interface_id, [in] unsigned long vers_option, [in, out] ept_lookup_handle_t *entry_handle, [in] unsigned long max_ents, [out] unsigned long *num_ents, [out, length_is(*num_ents), size_is(max_ents)] ept_entry_t entries[], [out] error_status_t *status);
    void ept_map([in] handle_t h, [in, ptr] GUID *object, [in, ptr] twr_p_t map_tower, [in, out] ept_lookup_handle_t *entry_handle, [in] unsigned long max_towers, [out] unsigned long *num_towers, [out, length_is(*num_towers), size_is(max_towers)] twr_p_t towers[], [out] error_status_t *status);
    void ept_lookup_handle_free([in] handle_t h, [in, out] ept_lookup_handle_t *entry_handle, [out] error_status_t *status);
}
"#;

/// MS-EFSR raw file operations (on `\pipe\lsarpc` and `\pipe\efsrpc`).
pub const EFSR_IDL: &str = r#"
typedef [context_handle] void *PEXIMPORT_CONTEXT_HANDLE;
typedef pipe unsigned char EFS_EXIM_PIPE;
[uuid(c681d488-d850-11d0-8c52-00c04fd90f7e), version(1.0)]
interface efsrpc
{
    long EfsRpcOpenFileRaw([in] handle_t binding_h, [out] PEXIMPORT_CONTEXT_HANDLE *hContext, [in, string] wchar_t *FileName, [in] long Flags);
    long EfsRpcReadFileRaw([in] PEXIMPORT_CONTEXT_HANDLE hContext, [out] EFS_EXIM_PIPE *EfsOutPipe);
    long EfsRpcWriteFileRaw([in] PEXIMPORT_CONTEXT_HANDLE hContext, [in] EFS_EXIM_PIPE *EfsInPipe);
    void EfsRpcCloseRaw([in, out] PEXIMPORT_CONTEXT_HANDLE *hContext);
}
[uuid(df1941c5-fe89-4e79-bf10-463657acf44d), version(1.0)]
interface efsr
{
    long EfsRpcOpenFileRaw([in] handle_t binding_h, [out] PEXIMPORT_CONTEXT_HANDLE *hContext, [in, string] wchar_t *FileName, [in] long Flags);
    long EfsRpcReadFileRaw([in] PEXIMPORT_CONTEXT_HANDLE hContext, [out] EFS_EXIM_PIPE *EfsOutPipe);
    long EfsRpcWriteFileRaw([in] PEXIMPORT_CONTEXT_HANDLE hContext, [in] EFS_EXIM_PIPE *EfsInPipe);
    void EfsRpcCloseRaw([in, out] PEXIMPORT_CONTEXT_HANDLE *hContext);
}
"#;

/// The built-in descriptions.
///
/// # Errors
/// Never in practice: the texts are tested.
pub fn library() -> Result<Library, IdlError> {
    let mut lib = parse(EPM_IDL, "<builtin epm>")?;
    lib.merge(parse(EFSR_IDL, "<builtin efsr>")?);
    Ok(lib)
}
